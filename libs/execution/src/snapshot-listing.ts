import { SnapshotError } from './snapshot-errors';

export interface SnapshotLimits {
  /** Most entries a snapshot may hold. */
  maxEntries: number;
  /** Most bytes its files may add up to, unpacked. */
  maxBytes: number;
}

/** One line of `tar --list --verbose --numeric-owner --quoting-style=c` (LC_ALL=C). */
export interface ListedEntry {
  /** The first letter of the mode as tar lists it: `-` file, `d`, `l`, `h` hard link ... */
  type: string;
  /** The name as stored, one character per byte (latin1). */
  name: string;
  /** A link's target, likewise. */
  target?: string;
  size: number;
}

/** Symlinks followed through one another before a chain counts as a loop (Linux's limit). */
const MAX_HOPS = 40;
/** A line is at most a few times PATH_MAX, octal escapes included. */
export const MAX_LISTING_LINE = 64 * 1024;

/**
 * Checks a snapshot's entries as tar lists them, before anything is extracted:
 * only files, directories and symlinks, every name relative and without `..`,
 * no name twice, no entry under a symlink, no symlink that leads out of the
 * workspace (followed through the others), and the limits. Each refusal names
 * the entry. tar's own listing is read (not the archive's headers), so what is
 * checked is what the same tar will extract.
 */
export class SnapshotChecker {
  private entries = 0;
  private bytes = 0;
  /** Normalized path -> name as stored. */
  private readonly names = new Map<string, string>();
  /** Normalized path of each symlink -> its target. */
  private readonly links = new Map<string, string>();

  constructor(private readonly limits: SnapshotLimits) {}

  add(line: string): void {
    const entry = parseListing(line);
    const refuse = (problem: string) =>
      new SnapshotError(`entry ${show(entry.name)} ${problem}`, 'refused');
    if (++this.entries > this.limits.maxEntries) {
      throw new SnapshotError(`has more than ${this.limits.maxEntries} entries`, 'refused');
    }
    switch (entry.type) {
      case '-':
      case 'd':
      case 'l':
        break;
      case 'h':
        throw refuse(`is a hard link (to ${show(entry.target ?? '')})`);
      case 'b':
      case 'c':
        throw refuse('is a device');
      case 'p':
        throw refuse('is a fifo');
      default:
        throw refuse(
          `is of a type tar lists as "${entry.type}" (only files, directories, symlinks)`,
        );
    }
    if (entry.name.startsWith('/')) throw refuse('is an absolute path');
    const parts = entry.name.split('/').filter((part) => part !== '' && part !== '.');
    if (parts.includes('..')) throw refuse('has a ".." component');
    const path = parts.join('/');
    if (path === '' && entry.type !== 'd') throw refuse('is the workspace itself, not a directory');
    if (this.names.has(path)) throw refuse('appears twice');
    this.names.set(path, entry.name);
    if (entry.type === '-') {
      this.bytes += entry.size;
      if (this.bytes > this.limits.maxBytes) {
        throw new SnapshotError(`unpacks to more than ${this.limits.maxBytes} bytes`, 'refused');
      }
    } else if (entry.type === 'l') {
      const target = entry.target ?? '';
      if (target === '') throw refuse('is a symlink without a target');
      if (target.startsWith('/')) {
        throw refuse(`is a symlink to an absolute path (${show(target)})`);
      }
      this.links.set(path, target);
    }
  }

  /** The checks that need every entry; the totals when the snapshot passes. */
  finish(): { entries: number; bytes: number } {
    for (const [path, name] of this.names) {
      const parts = path.split('/');
      for (let i = 1; i < parts.length; i++) {
        const link = parts.slice(0, i).join('/');
        if (this.links.has(link)) {
          throw new SnapshotError(
            `entry ${show(name)} goes through the symlink ${show(this.names.get(link) ?? link)}`,
            'refused',
          );
        }
      }
    }
    for (const [path, target] of this.links) {
      if (leavesRoot(path, this.links)) {
        throw new SnapshotError(
          `entry ${show(this.names.get(path) ?? path)} is a symlink to ${show(target)}, which leads outside the workspace (or loops)`,
          'refused',
        );
      }
    }
    return { entries: this.entries, bytes: this.bytes };
  }
}

/**
 * Whether the symlink at `path`, followed as the filesystem would (through the
 * other symlinks, so that `d/s -> ..` then `l -> d/s/..` is caught), climbs
 * above the workspace root, or does not end within MAX_HOPS links.
 */
function leavesRoot(path: string, links: ReadonlyMap<string, string>): boolean {
  let hops = 0;
  const follow = (dir: readonly string[], target: string): string[] | null => {
    if (++hops > MAX_HOPS || target.startsWith('/')) return null;
    let at = [...dir];
    for (const part of target.split('/')) {
      if (part === '' || part === '.') continue;
      if (part === '..') {
        if (at.length === 0) return null;
        at.pop();
        continue;
      }
      const next = links.get([...at, part].join('/'));
      if (next === undefined) {
        at.push(part);
      } else {
        const resolved = follow(at, next);
        if (resolved === null) return null;
        at = resolved;
      }
    }
    return at;
  };
  return follow(path.split('/').slice(0, -1), links.get(path) ?? '') === null;
}

/** Parses one listing line; anything it does not expect refuses the snapshot. */
export function parseListing(line: string): ListedEntry {
  const unreadable = () =>
    new SnapshotError(
      `tar listed a line that cannot be read: ${JSON.stringify(line.slice(0, 200))}`,
      'refused',
    );
  // Mode, uid/gid, size (or major,minor), date and time: never a quote among them.
  const start = line.indexOf('"');
  const meta = start < 0 ? [] : line.slice(0, start).trim().split(/ +/);
  if (meta.length < 4 || meta[0].length !== 10 || !/^\d+\/\d+$/.test(meta[1])) throw unreadable();
  const name = readQuoted(line, start);
  if (!name) throw unreadable();
  const type = meta[0].charAt(0);
  const size = /^\d+$/.test(meta[2]) ? Number(meta[2]) : NaN;
  if (type === '-' && !Number.isSafeInteger(size)) throw unreadable();
  const rest = line.slice(name.end);
  if (rest === '') return { type, name: name.value, size };
  const arrow = rest.startsWith(' -> "') ? 4 : rest.startsWith(' link to "') ? 9 : -1;
  const target = arrow < 0 ? null : readQuoted(line, name.end + arrow);
  if (!target || target.end !== line.length) throw unreadable();
  return { type, name: name.value, target: target.value, size };
}

const ESCAPES: Record<string, string> = {
  a: '\x07',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
  v: '\v',
  '\\': '\\',
  '"': '"',
  '?': '?',
};

/** The C-quoted string at `start` (octal escapes are bytes), and the index after it. */
function readQuoted(text: string, start: number): { value: string; end: number } | null {
  if (text.charAt(start) !== '"') return null;
  let value = '';
  for (let i = start + 1; i < text.length; i++) {
    const char = text.charAt(i);
    if (char === '"') return { value, end: i + 1 };
    if (char !== '\\') {
      value += char;
      continue;
    }
    const octal = /^[0-7]{1,3}/.exec(text.slice(i + 1, i + 4));
    if (octal) {
      value += String.fromCharCode(parseInt(octal[0], 8) & 0xff);
      i += octal[0].length;
    } else if (ESCAPES[text.charAt(i + 1)] !== undefined) {
      value += ESCAPES[text.charAt(i + 1)];
      i += 1;
    } else {
      return null;
    }
  }
  return null;
}

/** A stored name (bytes as latin1) for a message: decoded as UTF-8, control characters escaped. */
export function show(name: string): string {
  const text = Buffer.from(name, 'latin1').toString('utf8');
  return JSON.stringify(text.length > 200 ? `${text.slice(0, 200)}…` : text);
}
