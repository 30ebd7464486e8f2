import { existsSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { processGone, waitFor } from '@drover/testing';
import { ProcessDriver } from './process-driver';
import type { CommandResult, SandboxCommand } from './sandbox-driver';

interface Output {
  stdout: string[];
  stderr: string[];
}

/** Variables a POSIX shell may add to its own environment. */
const SHELL_VARS = ['PWD', 'OLDPWD', 'SHLVL', '_'];
const INHERITED = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR'];

let workspace: string;
const driver = new ProcessDriver(200);
/** Processes that escaped the driver during a test; killed afterwards so nothing leaks. */
const strays: number[] = [];

beforeEach(async () => {
  workspace = await mkdtemp(join(tmpdir(), 'drover-process-driver-'));
});

afterEach(async () => {
  for (const pid of strays.splice(0)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await rm(workspace, { recursive: true, force: true });
});

async function run(
  command: SandboxCommand,
  signal: AbortSignal = new AbortController().signal,
  where: string = workspace,
): Promise<CommandResult & Output> {
  const output: Output = { stdout: [], stderr: [] };
  const result = await driver.exec(where, command, (s, t) => output[s].push(t), signal);
  return { ...result, ...output };
}

/** Waits for the script to write a pid to `file` in the workspace and returns it. */
async function pidFrom(file: string): Promise<number> {
  let pid = NaN;
  await waitFor(async () => {
    const text = await readFile(join(workspace, file), 'utf8').catch(() => '');
    pid = Number.parseInt(text, 10);
    return text.endsWith('\n') && Number.isInteger(pid) && pid > 0;
  }, `${file} to hold a pid`);
  return pid;
}

/** Starts a shell whose background child outlives it unless the tree is killed. */
const TREE = 'sleep 30 & echo $! > child.pid; wait';

describe(ProcessDriver.name, () => {
  it('declares itself as the non-isolated process driver', () => {
    expect(driver.name).toBe('process');
    expect(driver.isolated).toBe(false);
  });

  it('delivers stdout and stderr lines separately and in order', async () => {
    const result = await run({
      script: 'echo out1; echo err1 >&2; echo out2; echo err2 >&2; printf partial',
    });
    expect(result.stdout).toEqual(['out1', 'out2', 'partial']);
    expect(result.stderr).toEqual(['err1', 'err2']);
  });

  it('reports a clean exit', async () => {
    const result = await run({ script: 'true' });
    expect(result).toEqual({
      exitCode: 0,
      signal: null,
      timedOut: false,
      aborted: false,
      stdout: [],
      stderr: [],
    });
  });

  it('reports the exit code of a failing command', async () => {
    const result = await run({ script: 'echo bye; exit 3' });
    expect(result.exitCode).toBe(3);
    expect(result.signal).toBeNull();
    expect(result.timedOut).toBe(false);
    expect(result.stdout).toEqual(['bye']);
  });

  it('reports the signal that killed the command', async () => {
    const result = await run({ script: 'kill -9 $$' });
    expect(result.exitCode).toBeNull();
    expect(result.signal).toBe('SIGKILL');
  });

  it('runs in the workspace by default and tells the command where it is', async () => {
    const result = await run({ script: 'pwd; echo "$DROVER_WORKSPACE"' });
    expect(result.stdout).toEqual([await realpath(workspace), workspace]);
  });

  it('applies the command env and a cwd inside the workspace', async () => {
    await mkdir(join(workspace, 'sub', 'dir'), { recursive: true });
    const result = await run({
      script: 'echo "$GREETING"; echo "$OTHER"; pwd',
      cwd: 'sub/dir',
      env: { GREETING: 'hello world', OTHER: '' },
    });
    expect(result.stdout).toEqual([
      'hello world',
      '',
      await realpath(join(workspace, 'sub', 'dir')),
    ]);
  });

  it('does not leak the runner environment to the command', async () => {
    const name = `DROVER_TEST_SECRET_${process.pid}_${Date.now()}`;
    const previous = process.env[name];
    process.env[name] = 'runner-only';
    try {
      const result = await run({ script: `echo "\${${name}-unset}"; env` });
      expect(result.stdout[0]).toBe('unset');
      const keys = result.stdout.slice(1).map((line) => line.split('=')[0]);
      const allowed = new Set([
        ...INHERITED,
        ...SHELL_VARS,
        'DROVER_WORKSPACE',
        'DROVER_OUTPUT',
        'DROVER_REQUEST',
      ]);
      expect(keys.filter((k) => !allowed.has(k))).toEqual([]);
      expect(keys).toContain('DROVER_WORKSPACE');
      if (process.env.PATH !== undefined) expect(keys).toContain('PATH');
    } finally {
      if (previous === undefined) delete process.env[name];
      else process.env[name] = previous;
    }
  });

  it('lets the command env override PATH but not DROVER_WORKSPACE', async () => {
    const result = await run({
      script: 'echo "$PATH"; echo "$DROVER_WORKSPACE"',
      env: { PATH: '/usr/bin:/bin', DROVER_WORKSPACE: '/elsewhere' },
    });
    expect(result.stdout).toEqual(['/usr/bin:/bin', workspace]);
  });

  it('kills the whole process tree on timeout', async () => {
    const pending = run({ script: TREE, timeoutMs: 500 });
    const child = await pidFrom('child.pid');
    strays.push(child);
    expect(processGone(child)).toBe(false);
    const result = await pending;
    expect(result.timedOut).toBe(true);
    expect(result.aborted).toBe(false);
    expect(result.exitCode).toBeNull();
    await waitFor(() => processGone(child), `pid ${child} to be gone`);
  });

  it('escalates to SIGKILL after the grace period when the tree ignores SIGTERM', async () => {
    const pending = run({ script: `trap '' TERM; ${TREE}`, timeoutMs: 300 });
    const child = await pidFrom('child.pid');
    strays.push(child);
    const result = await pending;
    expect(result.timedOut).toBe(true);
    expect(result.signal).toBe('SIGKILL');
    await waitFor(() => processGone(child), `pid ${child} to be gone`);
  });

  it('kills the tree of a command that exits leaving a background child', async () => {
    const result = await run({ script: 'sleep 30 & echo $! > child.pid; exit 0' });
    const child = await pidFrom('child.pid');
    strays.push(child);
    expect(result.exitCode).toBe(0);
    await waitFor(() => processGone(child), `pid ${child} to be gone`);
  });

  it('kills the whole tree and reports aborted when the signal aborts', async () => {
    const controller = new AbortController();
    const pending = run({ script: TREE }, controller.signal);
    const child = await pidFrom('child.pid');
    strays.push(child);
    expect(processGone(child)).toBe(false);
    controller.abort();
    const result = await pending;
    expect(result.aborted).toBe(true);
    expect(result.timedOut).toBe(false);
    await waitFor(() => processGone(child), `pid ${child} to be gone`);
  });

  it('stops a command at once when the signal is already aborted', async () => {
    const controller = new AbortController();
    controller.abort();
    const result = await run({ script: 'echo started > ran; sleep 30' }, controller.signal);
    expect(result.aborted).toBe(true);
    expect(result.exitCode).not.toBe(0);
  });

  it.each(['..', '../elsewhere', 'sub/../..', '/etc', '/'])(
    'rejects the cwd %j that leaves the workspace, without running anything',
    async (cwd) => {
      await expect(run({ script: 'touch ran', cwd })).rejects.toThrow('leaves the workspace');
      expect(existsSync(join(workspace, 'ran'))).toBe(false);
    },
  );

  it('rejects a sibling directory that shares the workspace name as a prefix', async () => {
    const sibling = `../${workspace.split('/').pop()}-evil`;
    await expect(run({ script: 'true', cwd: sibling })).rejects.toThrow('leaves the workspace');
  });

  it('rejects when the cwd does not exist', async () => {
    await expect(run({ script: 'true', cwd: 'missing' })).rejects.toThrow();
  });

  it.each([
    ['with a trailing slash', (ws: string) => `${ws}/`],
    ['as a relative path', (ws: string) => relative(process.cwd(), ws)],
  ])('runs in a workspace given %s', async (_, spell) => {
    const result = await run({ script: 'pwd' }, undefined, spell(workspace));
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toEqual([await realpath(workspace)]);
  });

  it('returns soon after the timeout even if a descendant left the process group', async () => {
    // `setsid` moves the background child into a session of its own while it keeps
    // the stdout pipe open; the script waits until it has moved, then until the timeout.
    const script = [
      'setsid sleep 60 & echo $! > escaped.pid',
      'while [ "$(cut -d" " -f6 /proc/$!/stat)" != "$!" ]; do :; done',
      'sleep 30',
    ].join('\n');
    const pending = run({ script, timeoutMs: 300 });
    const escaped = await pidFrom('escaped.pid');
    strays.push(escaped);
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      pending.then((result) => ({ settled: true as const, result })),
      new Promise<{ settled: false }>((resolve) => {
        timer = setTimeout(() => resolve({ settled: false }), 5_000);
      }),
    ]);
    clearTimeout(timer);
    try {
      expect(outcome.settled).toBe(true);
      if (outcome.settled) expect(outcome.result.timedOut).toBe(true);
    } finally {
      process.kill(escaped, 'SIGKILL');
      await pending.catch(() => undefined);
    }
  });

  it('kills the command tree within a few seconds when the runner itself is killed', async () => {
    // The runner dies while its command runs, not in the instant between spawning it and
    // recording its group (a loaded machine can pause the runner there for a while).
    const SETTLED_TREE = `sleep 0.3; ${TREE}`;
    // A stand-in runner: a process that runs a command through the driver, then dies by SIGKILL.
    const root = join(__dirname, '../../..');
    const script = join(workspace, 'runner.ts');
    await writeFile(
      script,
      `import { ProcessDriver } from ${JSON.stringify(join(__dirname, 'process-driver'))};
       void new ProcessDriver().exec(${JSON.stringify(workspace)}, { script: ${JSON.stringify(SETTLED_TREE)} },
         () => undefined, new AbortController().signal);`,
    );
    // tsx as a loader, not its CLI: one process, so SIGKILL hits the driver's own process.
    const runner = spawn(process.execPath, ['--import', 'tsx', script], {
      cwd: root,
      env: { ...process.env, TSX_TSCONFIG_PATH: join(root, 'tsconfig.json') },
      stdio: 'ignore',
    });
    const child = await pidFrom('child.pid');
    strays.push(child);
    expect(processGone(child)).toBe(false);

    runner.kill('SIGKILL');

    // About a second; more when the machine is loaded.
    await waitFor(() => processGone(child), 'the orphaned command to be killed', 10_000);
  }, 20_000);
});
