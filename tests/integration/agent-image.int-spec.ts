import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DockerDriver, dockerClient } from '@drover/execution';
import { agentImage } from '@drover/testing';

// The agent image (tools/agent-image) as the runner uses it: through the real
// DockerDriver, hardened (read-only root, no capabilities, no network), as uid
// 1000, the workspace mounted. The Jest global setup builds the image where missing.

const IMAGE = agentImage();
const RUNNER = `test-agent-image-${randomBytes(6).toString('hex')}`;
const VERSIONS = Object.fromEntries(
  readFileSync(join(__dirname, '../../tools/agent-image/versions.env'), 'utf8')
    .split('\n')
    .map((line) => /^([A-Z][A-Z0-9_]*)=(\S+)$/.exec(line.trim()))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => [m[1], m[2]]),
) as Record<string, string>;

function engineHost(): string {
  const host = process.env.DROVER_TEST_DOCKER_HOST;
  if (!host) throw new Error('DROVER_TEST_DOCKER_HOST is empty: no container engine');
  return host;
}

let driver: DockerDriver;
let workspace: string;

beforeAll(() => {
  driver = new DockerDriver({
    dockerHost: engineHost(),
    image: IMAGE,
    runnerId: RUNNER,
    limits: {
      memoryBytes: 1024 * 1024 * 1024,
      nanoCpus: 1_000_000_000,
      pids: 256,
      tmpfsBytes: 64 * 1024 * 1024,
    },
    user: '1000:1000',
  });
});

beforeEach(async () => {
  workspace = await mkdtemp(join(tmpdir(), 'drover-agent-image-'));
  // The sandbox user (uid 1000) writes here; the runner chowns its workspaces instead.
  await chmod(workspace, 0o777);
});

afterEach(async () => {
  await rm(workspace, { recursive: true, force: true });
});

afterAll(async () => {
  if (!process.env.DROVER_TEST_DOCKER_HOST) return;
  expect(await DockerDriver.reap(dockerClient(engineHost()), RUNNER)).toBe(0);
});

/** Runs `script` in the image the way the runner does; returns its exit code and output lines. */
async function run(script: string): Promise<{ code: number | null; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const result = await driver.exec(
    workspace,
    // HOME on the tmpfs: the root filesystem, /home/sandbox included, is read-only.
    { script, env: { HOME: '/tmp/home' }, timeoutMs: 60_000 },
    (stream, text) => (stream === 'stdout' ? out : err).push(text),
    new AbortController().signal,
  );
  return { code: result.exitCode, out: out.join('\n'), err: err.join('\n') };
}

describe('agent image', () => {
  it('is tagged by its recipe and is the one localhost/drover-agent:latest names', async () => {
    const docker = dockerClient(engineHost());
    expect(IMAGE).toMatch(/^localhost\/drover-agent:[0-9a-f]{12}$/);
    const [tagged, latest] = await Promise.all([
      docker.getImage(IMAGE).inspect(),
      docker.getImage('localhost/drover-agent:latest').inspect(),
    ]);
    expect(latest.Id).toBe(tagged.Id);
    expect(tagged.Config.User).toBe('1000:1000');
    expect(tagged.Config.WorkingDir).toBe('/workspace');
  });

  it(`runs Node.js ${VERSIONS.NODE_VERSION} and npm as uid 1000, not root`, async () => {
    const result = await run('id -u; id -g; id -un; node --version; npm --version');
    expect({ code: result.code, err: result.err }).toEqual({ code: 0, err: '' });
    expect(result.out.split('\n')).toEqual([
      '1000',
      '1000',
      'sandbox',
      `v${VERSIONS.NODE_VERSION}`,
      VERSIONS.NPM_VERSION,
    ]);
  }, 60_000);

  it.each([
    ['claude', 'CLAUDE_CODE_VERSION', /^(\S+) \(Claude Code\)$/],
    ['codex', 'CODEX_VERSION', /^codex-cli (\S+)$/],
    ['gemini', 'GEMINI_CLI_VERSION', /^(\S+)$/],
    ['opencode', 'OPENCODE_VERSION', /^(\S+)$/],
  ])(
    'runs the real %s CLI at its pinned version',
    async (cli, key, pattern) => {
      const result = await run(`mkdir -p "$HOME" && ${cli} --version`);
      expect(result.code).toBe(0);
      const version = pattern.exec(result.out.trim())?.[1];
      expect([cli, version]).toEqual([cli, VERSIONS[key]]);
    },
    60_000,
  );

  it('has git, python3 and ripgrep working on the mounted workspace', async () => {
    await writeFile(join(workspace, 'notes.txt'), 'needle in the workspace\n');
    const script = [
      'set -e',
      'git init -q -b main .',
      'git -c user.name=t -c user.email=t@example.com add notes.txt',
      'git -c user.name=t -c user.email=t@example.com commit -q -m first',
      'git log --format=%s',
      'rg --no-heading needle',
      'python3 -c "import sys; print(sys.version_info[0])"',
      'echo written-by-the-sandbox > out.txt',
      'ps -o user= -p $$',
    ].join('\n');
    const result = await run(script);
    expect({ code: result.code, err: result.err }).toEqual({ code: 0, err: '' });
    expect(result.out.split('\n')).toEqual([
      'first',
      'notes.txt:needle in the workspace',
      '3',
      'sandbox',
    ]);
    // Written inside, seen on the host: the workspace is the mounted directory.
    expect(await readFile(join(workspace, 'out.txt'), 'utf8')).toBe('written-by-the-sandbox\n');
  }, 60_000);

  it('keeps its root filesystem read-only and its /tmp writable (mode 1777)', async () => {
    const result = await run(
      'touch /usr/local/x 2>/dev/null && echo wrote-root; touch /home/sandbox/x 2>/dev/null && echo wrote-home; stat -c %a /tmp; touch /tmp/ok && echo tmp-ok',
    );
    expect(result.out.split('\n')).toEqual(['1777', 'tmp-ok']);
  }, 60_000);
});
