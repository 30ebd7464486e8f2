import js from '@eslint/js';
import nx from '@nx/eslint-plugin';
import prettier from 'eslint-config-prettier';
import tseslint from 'typescript-eslint';

// Which kinds of project may import which. Apps never import each other;
// contracts import nothing of ours.
const layers = {
  'type:app': ['type:feature', 'type:data-access', 'type:contracts', 'type:util'],
  'type:feature': ['type:feature', 'type:data-access', 'type:contracts', 'type:util'],
  'type:data-access': ['type:data-access', 'type:contracts', 'type:util'],
  'type:util': ['type:util'],
  'type:contracts': [],
  'type:testing': [
    'type:feature',
    'type:data-access',
    'type:contracts',
    'type:util',
    'type:testing',
  ],
  // Cross-service tests may start apps in-process.
  'type:e2e': [
    'type:app',
    'type:feature',
    'type:data-access',
    'type:contracts',
    'type:util',
    'type:testing',
  ],
};
const boundaries = (extra, allow = []) => [
  'error',
  {
    enforceBuildableLibDependency: false,
    allow,
    depConstraints: Object.entries(layers).map(([sourceTag, allowed]) => ({
      sourceTag,
      onlyDependOnLibsWithTags: [...allowed, ...(sourceTag === 'type:contracts' ? [] : extra)],
    })),
  },
];

export default tseslint.config(
  {
    ignores: [
      '**/dist/**',
      '**/node_modules/**',
      'libs/db/src/generated/**',
      'tmp/**',
      '.nx/**',
      '**/*.cjs',
      '**/*.mjs',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      // One program for the whole repository (the root tsconfig includes every file):
      // a program per project would hold most of the repository once per project.
      parserOptions: { project: ['./tsconfig.json'], tsconfigRootDir: import.meta.dirname },
    },
    plugins: { '@nx': nx },
    rules: {
      '@nx/enforce-module-boundaries': boundaries([]),
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/consistent-type-imports': [
        'error',
        { fixStyle: 'inline-type-imports', disallowTypeAnnotations: false },
      ],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      'no-restricted-syntax': [
        'error',
        {
          selector: "MemberExpression[object.name='process'][property.name='env']",
          message: 'read configuration through @drover/config',
        },
      ],
    },
  },
  {
    // Tests may use the testing lib; config, testing and tools are where the environment is read.
    files: [
      '**/*.spec.ts',
      '**/*.int-spec.ts',
      '**/*.e2e-spec.ts',
      'tests/**/*.ts',
      'libs/testing/**/*.ts',
    ],
    rules: {
      // Cross-service tests may start apps in-process, and the browser tests start the
      // built services as the e2e tests do (tests/e2e/support/services.ts).
      '@nx/enforce-module-boundaries': boundaries(
        ['type:testing'],
        ['@drover/app-*', '@drover/e2e-services'],
      ),
      'no-restricted-syntax': 'off',
    },
  },
  {
    // The dashboard runs in a browser: its own program (DOM, JSX). At runtime it loads the
    // browser-safe @drover/client only; the rest of the workspace for its types (the
    // contracts' root pulls node:crypto into the bundle; the build refuses node: modules).
    files: ['apps/dashboard/**/*.ts', 'apps/dashboard/**/*.tsx'],
    languageOptions: {
      parserOptions: {
        project: ['./apps/dashboard/tsconfig.json'],
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['@drover/*', '!@drover/client'],
              allowTypeImports: true,
              message:
                'the dashboard imports workspace code for its types only, but @drover/client',
            },
          ],
        },
      ],
    },
  },
  {
    files: [
      'libs/config/**/*.ts',
      'libs/execution/src/process-driver.ts',
      'libs/execution/src/workspace.ts',
      'tools/**/*.ts',
      'prisma.config.ts',
      'apps/cli/src/render.ts',
    ],
    rules: { 'no-restricted-syntax': 'off' },
  },
  prettier,
);
