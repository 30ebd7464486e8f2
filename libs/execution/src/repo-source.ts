import { lookup as dnsLookup } from 'node:dns/promises';
import { stat } from 'node:fs/promises';
import { isIPv4, isIPv6 } from 'node:net';
import { join } from 'node:path';
import { GitError, InvalidSpecError } from './workspace-errors';

// Where a task's repository may come from: the address checked (scheme,
// transport, credentials, host and the addresses it resolves to) before git runs.

/** What a runner lets tasks fetch from; both off for multi-tenant runners. */
export interface SourcePolicy {
  /** Local paths and file:// URLs (development and tests only). */
  allowLocal: boolean;
  /** Hosts on loopback, private, link-local... networks (SSRF into the runner's network). */
  allowPrivateHosts: boolean;
}

/** Resolves a host name to its addresses; injectable because tests have no DNS. */
export type HostLookup = (host: string) => Promise<string[]>;

export interface CheckedRepo {
  kind: 'https' | 'ssh' | 'local';
  url: string;
}

const MAX_URL_LENGTH = 2048;
const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//;
/** git's `<transport>::<address>` form runs a remote helper (ext:: runs a command). */
const TRANSPORT = /^([A-Za-z][A-Za-z0-9+.-]*)::/;
const SCP = /^([^@/:]+)@(\[[^\]]*\]|[^/:[\]]+):(.*)$/;
const USER = /^[A-Za-z0-9._][A-Za-z0-9._-]*$/;
const LABEL = '[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?';
const HOST_NAME = new RegExp(`^${LABEL}(?:\\.${LABEL})*$`);

/** Where a checked repository lives, with the addresses git must connect to. */
export interface Target extends CheckedRepo {
  host?: string;
  port?: number;
  /** Addresses a host name resolved to when checked; git is pinned to them (no DNS rebinding). */
  pinned?: string[];
}

/**
 * Checks a task's repository address: https, ssh (URL or scp-like) or, when the
 * policy allows, a local repository. Hosts must not be (or resolve to) addresses
 * of the runner's own networks unless the policy allows it.
 */
export async function checkRepo(
  repo: string,
  policy: SourcePolicy,
  lookup: HostLookup = defaultLookup,
): Promise<CheckedRepo> {
  const { kind, url } = await inspectRepo(repo, policy, lookup);
  return { kind, url };
}

export async function inspectRepo(
  repo: string,
  policy: SourcePolicy,
  lookup: HostLookup = defaultLookup,
  signal?: AbortSignal,
): Promise<Target> {
  const refuse = (message: string) => new InvalidSpecError('repo', message);
  if (repo.length === 0) throw refuse('must not be empty');
  if (repo.length > MAX_URL_LENGTH) throw refuse(`longer than ${MAX_URL_LENGTH} characters`);
  if (repo.startsWith('-')) throw refuse("must not start with '-'");
  const transport = TRANSPORT.exec(repo);
  if (transport) throw refuse(`the ${transport[1]}:: transport is not allowed`);
  // eslint-disable-next-line no-control-regex
  if (/[\s\x00-\x1f\x7f]/.test(repo)) {
    throw refuse('must not contain whitespace or control characters');
  }
  if (repo.includes('\\')) throw refuse("must not contain '\\'");

  const scheme = SCHEME.exec(repo)?.[1]?.toLowerCase();
  if (scheme !== undefined) {
    const rest = repo.slice(scheme.length + 3);
    switch (scheme) {
      case 'https':
        return remote('https', `https://${rest}`, rest, 443, policy, lookup, signal);
      case 'ssh':
        return remote('ssh', `ssh://${rest}`, rest, 22, policy, lookup, signal);
      case 'http':
        throw refuse('plain http:// is not allowed (unencrypted); use https://');
      case 'git':
        throw refuse('the git:// protocol is not allowed (unauthenticated and unencrypted)');
      case 'file':
        if (!policy.allowLocal) throw refuse('local repositories (file://) are not allowed');
        if (!rest.startsWith('/')) throw refuse('a file:// URL must be file:///absolute/path');
        await checkLocal(rest);
        return { kind: 'local', url: repo };
      default:
        throw refuse(`the ${scheme}:// scheme is not allowed`);
    }
  }
  if (repo.startsWith('/')) {
    if (!policy.allowLocal) throw refuse('local paths are not allowed');
    await checkLocal(repo);
    return { kind: 'local', url: repo };
  }
  const scp = SCP.exec(repo);
  if (scp) {
    const [user = '', host = '', path = ''] = scp.slice(1);
    if (!USER.test(user)) throw refuse(`invalid user name "${user}"`);
    if (path.length === 0) throw refuse('the repository path is empty');
    if (path.startsWith('-')) throw refuse("the repository path must not start with '-'");
    const name = await checkHost(host, policy, lookup, signal);
    return { kind: 'ssh', url: repo, host: name.host, pinned: name.pinned };
  }
  if (policy.allowLocal && !repo.includes(':')) throw refuse('a local path must be absolute');
  throw refuse('not a supported repository address (use https://, ssh:// or user@host:path)');
}

/** An https:// or ssh:// URL: `rest` is what follows the scheme. */
async function remote(
  kind: 'https' | 'ssh',
  url: string,
  rest: string,
  defaultPort: number,
  policy: SourcePolicy,
  lookup: HostLookup,
  signal: AbortSignal | undefined,
): Promise<Target> {
  const refuse = (message: string) => new InvalidSpecError('repo', message);
  const slash = rest.indexOf('/');
  let authority = slash < 0 ? rest : rest.slice(0, slash);
  const path = slash < 0 ? '' : rest.slice(slash);
  const at = authority.lastIndexOf('@');
  if (at >= 0) {
    const user = authority.slice(0, at);
    if (kind === 'https' || user.includes(':')) {
      throw refuse('credentials in the URL are not allowed');
    }
    if (!USER.test(user)) throw refuse(`invalid user name "${user}"`);
    authority = authority.slice(at + 1);
  }
  const parts = /^(\[[^\]]*\]|[^:]*)(?::(\d{1,5}))?$/.exec(authority);
  if (!parts) throw refuse(`invalid host or port in "${authority}"`);
  const port = parts[2] === undefined ? defaultPort : Number(parts[2]);
  if (port < 1 || port > 65535) throw refuse(`invalid port ${parts[2]}`);
  if (kind === 'ssh' && path.length < 2) throw refuse('the repository path is empty');
  const name = await checkHost(parts[1], policy, lookup, signal);
  return { kind, url, host: name.host, port, pinned: name.pinned };
}

/** A host name or IP literal (IPv6 in brackets), checked against the policy. */
async function checkHost(
  raw: string,
  policy: SourcePolicy,
  lookup: HostLookup,
  signal: AbortSignal | undefined,
): Promise<{ host: string; pinned?: string[] }> {
  const refuse = (message: string) => new InvalidSpecError('repo', message);
  if (raw.length === 0) throw refuse('the host is empty');
  if (raw.startsWith('[')) {
    const address = raw.slice(1, -1);
    if (!raw.endsWith(']') || !isIPv6(address)) throw refuse(`invalid IPv6 address ${raw}`);
    checkAddress(address, address, policy);
    return { host: raw };
  }
  const host = raw.endsWith('.') ? raw.slice(0, -1) : raw;
  if (host.length > 253 || !HOST_NAME.test(host)) throw refuse(`invalid host "${raw}"`);
  if (isIPv4(host)) {
    checkAddress(host, host, policy);
    return { host: raw };
  }
  // The resolver reads "127.1", "2130706433" or "0x7f.1" as IPv4 addresses: only
  // plain dotted quads are taken, so that what is checked is what git connects to.
  if (/^(?:\d+|0x[0-9a-f]*)$/i.test(host.slice(host.lastIndexOf('.') + 1))) {
    throw refuse(`host ${raw} is not a valid IP address (use the dotted form a.b.c.d)`);
  }
  let addresses: string[];
  try {
    addresses = await abortable(lookup(host), signal);
  } catch (error) {
    if (error instanceof GitError) throw error;
    throw refuse(`host ${raw} does not resolve`);
  }
  if (addresses.length === 0) throw refuse(`host ${raw} does not resolve`);
  for (const address of addresses) checkAddress(address, raw, policy);
  return { host: raw, pinned: addresses };
}

function checkAddress(address: string, host: string, policy: SourcePolicy): void {
  if (policy.allowPrivateHosts) return;
  const kind = addressKind(address);
  if (kind === undefined) return;
  const message =
    host === address ? `host ${host} is ${kind}` : `host ${host} resolves to ${address}, ${kind}`;
  throw new InvalidSpecError('repo', message);
}

/** Why an address is not on the public internet, or undefined when it is. */
export function addressKind(address: string): string | undefined {
  const bare = address.replace(/%.*$/, '');
  if (isIPv4(bare)) return ipv4Kind(bare.split('.').map(Number));
  if (!isIPv6(bare)) return 'not an IP address';
  const w = ipv6Words(bare);
  const zeros = (n: number) => w.slice(0, n).every((word) => word === 0);
  const embedded = (high: number, low: number, how: string) => {
    const kind = ipv4Kind([high >> 8, high & 255, low >> 8, low & 255]);
    return kind && `${kind} (${how})`;
  };
  if (zeros(8)) return 'an unspecified address';
  if (zeros(7) && w[7] === 1) return 'a loopback address';
  if (zeros(5) && w[5] === 0xffff) return embedded(w[6], w[7], 'IPv4-mapped');
  if (zeros(6)) return embedded(w[6], w[7], 'IPv4-compatible') ?? 'a reserved address';
  if (w[0] === 0x64 && w[1] === 0xff9b && w.slice(2, 6).every((word) => word === 0)) {
    return embedded(w[6], w[7], 'NAT64');
  }
  if (w[0] === 0x2002) return embedded(w[1], w[2], '6to4');
  const first = w[0];
  if ((first & 0xfe00) === 0xfc00) return 'a private address';
  if ((first & 0xffc0) === 0xfe80) return 'a link-local address';
  if ((first & 0xffc0) === 0xfec0) return 'a private address (site-local)';
  if ((first & 0xff00) === 0xff00) return 'a multicast address';
  return undefined;
}

function ipv4Kind([a = 0, b = 0]: number[]): string | undefined {
  if (a === 0) return 'an unspecified address';
  if (a === 127) return 'a loopback address';
  if (a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168)) {
    return 'a private address';
  }
  if (a === 100 && b >= 64 && b <= 127) return 'a private address (CGNAT)';
  if (a === 169 && b === 254) return 'a link-local address';
  if (a >= 224 && a <= 239) return 'a multicast address';
  if (a >= 240 || (a === 198 && (b === 18 || b === 19))) return 'a reserved address';
  return undefined;
}

/** The eight 16-bit words of a valid IPv6 address. */
function ipv6Words(address: string): number[] {
  let text = address;
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const parse = (part: string) => (part ? part.split(':').map((word) => parseInt(word, 16)) : []);
  const high = parse(head);
  const low = tail === undefined ? [] : parse(tail);
  return [...high, ...Array<number>(8 - high.length - low.length).fill(0), ...low];
}

async function checkLocal(path: string): Promise<void> {
  const refuse = (message: string) => new InvalidSpecError('repo', message);
  if (!(await isDirectory(path))) throw refuse(`${path} does not exist or is not a directory`);
  // Checked by its files, not by running git in a directory we do not trust.
  const dotGit = join(path, '.git');
  const bare =
    (await isFile(join(path, 'HEAD'))) &&
    (await isDirectory(join(path, 'objects'))) &&
    (await isDirectory(join(path, 'refs')));
  if (!bare && !(await isDirectory(dotGit)) && !(await isFile(dotGit))) {
    throw refuse(`${path} is not a git repository`);
  }
}

/** Settles with the promise, or rejects with the signal's reason once it fires. */
function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise((done, fail) => {
    const onAbort = () => fail(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    void promise.then(done, fail).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

export async function defaultLookup(host: string): Promise<string[]> {
  const answers = await dnsLookup(host, { all: true });
  return answers.map((answer) => answer.address);
}

async function isDirectory(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isDirectory() ?? false;
}

async function isFile(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isFile() ?? false;
}
