// Shared Jest settings: SWC transpiles TypeScript (with decorator metadata for
// Nest), workspace aliases resolve to sources, and tiers are picked by file name:
// *.spec.ts (unit), *.int-spec.ts (integration), *.e2e-spec.ts (end to end).
const { join } = require('node:path');
const { compilerOptions } = require('./tsconfig.base.json');

const moduleNameMapper = {};
for (const [alias, [target]] of Object.entries(compilerOptions.paths)) {
  moduleNameMapper[`^${alias.replace('/', '\\/')}$`] = join(__dirname, target);
}

const swc = [
  '@swc/jest',
  {
    jsc: {
      parser: { syntax: 'typescript', decorators: true },
      transform: { legacyDecorator: true, decoratorMetadata: true },
      target: 'es2022',
    },
    module: { type: 'commonjs' },
    sourceMaps: 'inline',
  },
];

module.exports = function preset(dir, name) {
  return {
    displayName: name,
    rootDir: dir,
    testEnvironment: 'node',
    transform: { '^.+\\.ts$': swc },
    moduleNameMapper,
    testMatch: [
      '<rootDir>/**/*.spec.ts',
      '<rootDir>/**/*.int-spec.ts',
      '<rootDir>/**/*.e2e-spec.ts',
    ],
    testPathIgnorePatterns: ['/node_modules/', '/dist/'],
    globalSetup: join(__dirname, 'libs/testing/src/global-setup.ts'),
    testTimeout: 30_000,
  };
};
