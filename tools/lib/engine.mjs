// Makes sure a Docker-compatible container engine answers for the sandbox tests,
// and that the local test image exists (no image can be pulled here).
//
// Uses DOCKER_HOST when set, else /var/run/docker.sock, else Podman's Docker API
// service, started here. With no engine at all, on a root machine with apt,
// installs Podman first (as the machines' environment notes describe). Says what
// it does.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const PODMAN_SOCKET = '/run/podman/podman.sock';
// The tag names the recipe below (the fake agent CLIs in tools/sandbox-image
// included): change it when the recipe changes, so that machines that built the
// old image build the new one.
export const TEST_IMAGE = 'localhost/drover-sandbox-test:6';
// Fake claude, codex, gemini, opencode and aider (busybox sh) for the agent adapter tests.
const FAKE_AGENTS = fileURLToPath(new URL('../sandbox-image/', import.meta.url));

const has = (bin) => spawnSync('sh', ['-c', `command -v ${bin}`]).status === 0;
const isRoot = () => typeof process.getuid === 'function' && process.getuid() === 0;

/** GET `path` on the engine behind a unix socket; resolves with status and body, or null. */
function call(socketPath, method, path, body) {
  return new Promise((resolve) => {
    const req = request({ socketPath, path, method, timeout: 5_000 }, (res) => {
      let text = '';
      res.on('data', (chunk) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode, body: text }));
    });
    req.on('error', () => resolve(null));
    req.on('timeout', () => req.destroy());
    if (body) body.pipe(req);
    else req.end();
  });
}

const socketOf = (dockerHost) =>
  dockerHost?.startsWith('unix://') ? dockerHost.slice('unix://'.length) : undefined;

async function answers(socketPath) {
  return (await call(socketPath, 'GET', '/_ping'))?.status === 200;
}

async function waitUntilAnswers(socketPath, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await answers(socketPath)) return true;
    await new Promise((r) => setTimeout(r, 250));
  }
  return false;
}

function installPodman(log) {
  log(
    '  container engine: none found; installing Podman (apt-get install podman runc busybox-static)',
  );
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'ignore', env });
  execFileSync('apt-get', ['install', '-y', '-qq', 'podman', 'runc', 'busybox-static'], {
    stdio: 'ignore',
    env,
  });
}

/** This machine forbids raising rlimits and crun rejects its cgroup mode (ENVIRONMENT.md). */
function configurePodman() {
  const conf = '/etc/containers/containers.conf';
  if (existsSync(conf) || !isRoot()) return;
  mkdirSync('/etc/containers', { recursive: true });
  writeFileSync(
    conf,
    '[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]\n[engine]\nruntime = "runc"\n',
  );
}

function startPodmanService() {
  mkdirSync('/run/podman', { recursive: true });
  // From `/`: the service outlives this checkout, and with its working directory
  // deleted it can no longer start containers ("write child: broken pipe").
  const child = spawn('podman', ['system', 'service', '--time=0', `unix://${PODMAN_SOCKET}`], {
    cwd: '/',
    detached: true,
    stdio: 'ignore',
  });
  child.unref();
}

/**
 * A Podman service started from a checkout that has since been deleted answers
 * pings but cannot start containers: stop it so that a fresh one is started.
 */
function stopStrandedService(log) {
  const pids = spawnSync('pgrep', ['-f', 'podman system service'], { encoding: 'utf8' })
    .stdout.split('\n')
    .filter(Boolean);
  for (const pid of pids) {
    const cwd = spawnSync('readlink', [`/proc/${pid}/cwd`], { encoding: 'utf8' }).stdout.trim();
    if (!cwd.endsWith(' (deleted)')) continue;
    log(`  container engine: Podman service ${pid} runs in a deleted directory; restarting it`);
    process.kill(Number(pid), 'SIGTERM');
    spawnSync('sh', ['-c', `while kill -0 ${pid} 2>/dev/null; do sleep 0.1; done`]);
  }
}

/** The fake agent CLIs into /usr/local/bin, the helper they source into /usr/local/lib. */
function copyFakeAgents(rootfs) {
  for (const [from, to, mode] of [
    ['bin', 'usr/local/bin', 0o755],
    ['lib', 'usr/local/lib', 0o644],
  ]) {
    mkdirSync(join(rootfs, to), { recursive: true });
    for (const name of readdirSync(join(FAKE_AGENTS, from))) {
      copyFileSync(join(FAKE_AGENTS, from, name), join(rootfs, to, name));
      chmodSync(join(rootfs, to, name), mode);
    }
  }
}

/**
 * This machine's `node` at /usr/local/bin/node, with the shared libraries it
 * loads (as `ldd` lists them) at their own paths: the egress forwarder of
 * proxied runs needs a node in the image.
 */
function copyNode(rootfs) {
  const node = process.execPath;
  const libraries = execFileSync('ldd', [node], { encoding: 'utf8' })
    .split('\n')
    .map((line) => /(?:=>\s*)?(\/\S+)\s+\(0x[0-9a-f]+\)/.exec(line)?.[1])
    .filter(Boolean);
  for (const library of libraries) {
    mkdirSync(join(rootfs, dirname(library)), { recursive: true });
    copyFileSync(library, join(rootfs, library));
  }
  mkdirSync(join(rootfs, 'usr/local/bin'), { recursive: true });
  copyFileSync(node, join(rootfs, 'usr/local/bin/node'));
  chmodSync(join(rootfs, 'usr/local/bin/node'), 0o755);
}

/**
 * A busybox image with a non-root user, fake agent CLIs and node, imported through the engine's API
 * (`POST /images/create?fromSrc=-`, which Docker and Podman both serve).
 */
async function ensureTestImage(socketPath, log) {
  const found = await call(socketPath, 'GET', `/images/${encodeURIComponent(TEST_IMAGE)}/json`);
  if (found?.status === 200) return;
  const busybox = ['/bin/busybox', '/usr/bin/busybox'].find(existsSync);
  if (!busybox) throw new Error('building the sandbox test image needs busybox-static installed');
  const rootfs = mkdtempSync(join(tmpdir(), 'drover-rootfs-'));
  try {
    for (const dir of ['bin', 'etc', 'tmp', 'workspace', 'home/sandbox']) {
      mkdirSync(join(rootfs, dir), { recursive: true });
    }
    // A sticky, world-writable /tmp: a tmpfs mounted there takes the image's mode.
    chmodSync(join(rootfs, 'tmp'), 0o1777);
    // The user's home is writable by it: only a read-only root filesystem stops that.
    chmodSync(join(rootfs, 'home/sandbox'), 0o777);
    execFileSync('cp', [busybox, join(rootfs, 'bin/busybox')]);
    const applets = execFileSync(busybox, ['--list'], { encoding: 'utf8' }).split('\n');
    for (const applet of applets.filter((a) => a && a !== 'busybox')) {
      symlinkSync('busybox', join(rootfs, 'bin', applet));
    }
    writeFileSync(
      join(rootfs, 'etc/passwd'),
      'root:x:0:0:root:/root:/bin/sh\nsandbox:x:1000:1000:sandbox:/home/sandbox:/bin/sh\n',
    );
    writeFileSync(join(rootfs, 'etc/group'), 'root:x:0:\nsandbox:x:1000:\n');
    copyFakeAgents(rootfs);
    copyNode(rootfs);
    const tar = spawn('tar', ['-C', rootfs, '-c', '.'], { stdio: ['ignore', 'pipe', 'inherit'] });
    // `repo` with its tag: Podman's API ignores a separate `tag` on import.
    const res = await call(
      socketPath,
      'POST',
      `/images/create?fromSrc=-&repo=${encodeURIComponent(TEST_IMAGE)}`,
      tar.stdout,
    );
    if (res?.status !== 200) {
      throw new Error(`importing ${TEST_IMAGE} failed: ${res?.status} ${res?.body ?? ''}`);
    }
    log(`  container engine: built ${TEST_IMAGE} (busybox, user sandbox, fake agent CLIs, node)`);
  } finally {
    rmSync(rootfs, { recursive: true, force: true });
  }
}

/**
 * Returns the DOCKER_HOST of an engine that answers (after starting or installing
 * one where it can), with the test image built; null when there is none to be had.
 */
export async function ensureEngine(log = console.log) {
  let dockerHost = process.env.DOCKER_HOST;
  if (dockerHost && !socketOf(dockerHost)) {
    log(`  container engine: DOCKER_HOST=${dockerHost} (not a unix socket; used as given)`);
    return dockerHost;
  }
  if (!dockerHost && (await answers('/var/run/docker.sock'))) {
    dockerHost = 'unix:///var/run/docker.sock';
  }
  if (!dockerHost) {
    if (!has('podman') && isRoot() && has('apt-get')) {
      installPodman(log);
    }
    if (!has('podman')) {
      log('  container engine: none (install Podman or Docker; CI installs Podman itself)');
      return null;
    }
    configurePodman();
    dockerHost = `unix://${PODMAN_SOCKET}`;
    if (await answers(PODMAN_SOCKET)) stopStrandedService(log);
    if (!(await answers(PODMAN_SOCKET))) {
      startPodmanService();
      if (!(await waitUntilAnswers(PODMAN_SOCKET))) {
        throw new Error(`Podman's API service did not come up on ${PODMAN_SOCKET}`);
      }
      log(`  container engine: started Podman's Docker API on ${PODMAN_SOCKET}`);
    }
  }
  const socketPath = socketOf(dockerHost);
  if (!(await answers(socketPath))) throw new Error(`no container engine answers at ${dockerHost}`);
  log(`  container engine: answering at ${dockerHost}`);
  await ensureTestImage(socketPath, log);
  return dockerHost;
}

// `node tools/lib/engine.mjs`: prints the DOCKER_HOST of a ready engine (empty when
// none) and, on a second line, the sandbox test image; progress on stderr. For
// callers that cannot import ES modules.
if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  const host = await ensureEngine((line) => process.stderr.write(`${line}\n`));
  process.stdout.write(`${host ?? ''}\n${TEST_IMAGE}\n`);
}
