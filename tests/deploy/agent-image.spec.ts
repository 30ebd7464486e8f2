import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, RunnerConfigSchema } from '@drover/config';

// The agent image's recipe (tools/agent-image) and the registry-less build of it
// (tools/lib/agent-image.mjs). That module is ES, which Jest's CommonJS cannot
// load: its functions are called in a child node.

const ROOT = join(__dirname, '../..');
const RECIPE = join(ROOT, 'tools/agent-image');
const MODULE = join(ROOT, 'tools/lib/agent-image.mjs');

/** Calls `fn` of tools/lib/agent-image.mjs (or reads a constant) with JSON arguments. */
function agentImage<T>(fn: string, ...args: unknown[]): T {
  const script = `
    const m = await import(${JSON.stringify(MODULE)});
    const v = typeof m[${JSON.stringify(fn)}] === 'function'
      ? m[${JSON.stringify(fn)}](...${JSON.stringify(args)})
      : m[${JSON.stringify(fn)}];
    process.stdout.write(JSON.stringify(v));`;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
    encoding: 'utf8',
  });
  return JSON.parse(out) as T;
}

const versions = agentImage<Record<string, string>>('readVersions');
const dockerfile = readFileSync(join(RECIPE, 'Dockerfile'), 'utf8');
const install = readFileSync(join(RECIPE, 'install.sh'), 'utf8');

describe('agent image recipe hash', () => {
  let copy: string;
  beforeEach(() => {
    copy = mkdtempSync(join(tmpdir(), 'drover-recipe-'));
    cpSync(RECIPE, copy, { recursive: true });
  });
  afterEach(() => rmSync(copy, { recursive: true, force: true }));

  it('is the tag of localhost/drover-agent: 12 hex digits, the same for a copy of the recipe', () => {
    const hash = agentImage<string>('recipeHash', copy);
    expect(hash).toMatch(/^[0-9a-f]{12}$/);
    expect(agentImage<string>('recipeHash')).toBe(hash);
    expect(agentImage<string>('agentImageTag')).toBe(`localhost/drover-agent:${hash}`);
  });

  it('changes when any recipe file changes, and back when the change is undone', () => {
    const before = agentImage<string>('recipeHash', copy);
    const files = agentImage<string[]>('recipeFiles', copy);
    expect(files).toEqual(expect.arrayContaining(['Dockerfile', 'install.sh', 'versions.env']));
    for (const name of files) {
      const original = readFileSync(join(copy, name));
      writeFileSync(join(copy, name), Buffer.concat([original, Buffer.from('\n')]));
      expect([name, agentImage<string>('recipeHash', copy)]).not.toEqual([name, before]);
      writeFileSync(join(copy, name), original);
    }
    expect(agentImage<string>('recipeHash', copy)).toBe(before);
  });

  it('changes when a file is added, and not when only a timestamp changes', () => {
    const before = agentImage<string>('recipeHash', copy);
    utimesSync(join(copy, 'install.sh'), new Date(0), new Date(0));
    expect(agentImage<string>('recipeHash', copy)).toBe(before);
    writeFileSync(join(copy, 'extra.sh'), '');
    expect(agentImage<string>('recipeHash', copy)).not.toBe(before);
  });
});

describe('agent image Dockerfile', () => {
  const instructions = dockerfile
    .split('\n')
    .filter((line) => line && !line.startsWith('#'))
    .map((line) => line.trim());

  it('starts from the slim image of the Debian release the recipe pins', () => {
    expect(instructions[0]).toBe(`FROM debian:${versions.DEBIAN_SUITE}-slim`);
  });

  it('runs the one install script with versions.env beside it', () => {
    expect(instructions).toContain('COPY install.sh versions.env /tmp/agent-image-recipe/');
    expect(instructions.filter((line) => line.startsWith('RUN '))).toEqual([
      'RUN sh /tmp/agent-image-recipe/install.sh && rm -rf /tmp/agent-image-recipe',
    ]);
  });

  it('sets the same user, working directory and command as the registry-less build', () => {
    const settings = instructions.filter((line) => /^(USER|WORKDIR|CMD|ENV) /.test(line));
    expect(settings).toEqual(agentImage<string[]>('IMAGE_CHANGES'));
  });

  it('spells no pinned version: versions.env is the only place', () => {
    const pinned = Object.entries(versions).filter(([key]) => /_(VERSION|INTEGRITY)$/.test(key));
    expect(pinned.map(([key]) => key)).toEqual(
      expect.arrayContaining([
        'NODE_VERSION',
        'NPM_VERSION',
        'CLAUDE_CODE_VERSION',
        'CODEX_VERSION',
        'GEMINI_CLI_VERSION',
        'OPENCODE_VERSION',
      ]),
    );
    for (const [key, value] of pinned) {
      expect([key, dockerfile.includes(value)]).toEqual([key, false]);
      expect([key, install.includes(value)]).toEqual([key, false]);
      // install.sh uses every pin.
      expect([key, install.includes(`$${key}`)]).toEqual([key, true]);
    }
  });
});

describe('agent image name', () => {
  it('is the runner default image, as the build tags it', () => {
    expect(loadConfig(RunnerConfigSchema, {}).RUNNER_IMAGE).toBe(
      agentImage<string>('AGENT_IMAGE_LATEST'),
    );
    expect(agentImage<string>('AGENT_IMAGE_LATEST')).toBe('localhost/drover-agent:latest');
  });
});

describe('debianMirror', () => {
  it('takes the archive apt uses for the suite, from one-line or deb822 sources', () => {
    const oneLine = 'deb [arch=amd64] http://mirror.example/debian bookworm main\n';
    const deb822 = [
      'Types: deb',
      'URIs: http://security.example/debian-security',
      'Suites: bookworm-security',
      '',
      'Types: deb',
      'URIs: http://deb822.example/debian',
      'Suites: bookworm bookworm-updates',
      'Components: main',
    ].join('\n');
    expect(agentImage('debianMirror', 'bookworm', [oneLine])).toBe('http://mirror.example/debian');
    expect(agentImage('debianMirror', 'bookworm', [deb822])).toBe('http://deb822.example/debian');
    expect(agentImage('debianMirror', 'trixie', [oneLine, deb822])).toBe(
      'http://deb.debian.org/debian',
    );
  });
});
