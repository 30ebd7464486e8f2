import { readdir, readFile, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { UsageError } from './errors';

/** What each ticket file's extension says it is, as the API reads an upload's name. */
export const TICKET_TYPES: Readonly<Record<string, string>> = {
  '.md': 'text/markdown',
  '.markdown': 'text/markdown',
  '.yaml': 'application/yaml',
  '.yml': 'application/yaml',
  '.json': 'application/json',
};

const KINDS = Object.keys(TICKET_TYPES).join(', ');

export const isTicketFile = (name: string): boolean =>
  Object.hasOwn(TICKET_TYPES, extname(name).toLowerCase());

/**
 * The ticket files `paths` name, in order: a file as given, a directory as every
 * ticket file directly in it, sorted by name. A missing path, a file of another
 * kind or a directory without ticket files is a usage error naming it.
 */
export async function expandPaths(paths: readonly string[]): Promise<string[]> {
  const files: string[] = [];
  for (const path of paths) {
    const info = await stat(path).catch((error: NodeJS.ErrnoException) => {
      throw new UsageError(
        `${path}: ${error.code === 'ENOENT' ? 'no such file or directory' : error.message}`,
      );
    });
    if (info.isDirectory()) {
      const found = await ticketFilesIn(path);
      if (!found.length)
        throw new UsageError(`${path}: no ticket files (${KINDS}) in this directory`);
      files.push(...found);
    } else if (isTicketFile(path)) {
      files.push(path);
    } else {
      throw new UsageError(`${path}: not a ticket file (${KINDS})`);
    }
  }
  return files;
}

async function ticketFilesIn(dir: string): Promise<string[]> {
  const names = (await readdir(dir)).filter(isTicketFile).sort();
  const files: string[] = [];
  for (const name of names) {
    // Only files: a directory named like a ticket file is not one.
    if ((await stat(join(dir, name))).isFile()) files.push(join(dir, name));
  }
  return files;
}

/** A ticket file's bytes (the API checks they are UTF-8); unreadable is a usage error naming the file. */
export async function readTicketFile(file: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (error) {
    throw new UsageError(`cannot read ${file}: ${(error as Error).message}`);
  }
}
