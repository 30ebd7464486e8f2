import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { RawContent } from '@drover/client';
import type { DroverApi } from './api-client';
import { dim, formatBytes, print, table, type Output } from './render';

/** `drover artifacts <run>`: what the run's runner stored. */
export async function artifacts(api: DroverApi, runId: string, opts: Output): Promise<number> {
  const page = await api.listRunArtifacts(runId);
  const human = page.items.length
    ? table(
        ['NAME', 'KIND', 'SIZE', 'CREATED', 'SHA256'],
        page.items.map((a) => [
          a.name,
          a.kind,
          formatBytes(a.size),
          a.createdAt,
          dim(a.sha256.slice(0, 12)),
        ]),
      )
    : `run ${runId} has no artifacts yet`;
  print(opts, human, page);
  return 0;
}

/** `drover artifact <run> <name> [-o file]`: the content, to the file or to stdout. */
export async function artifact(
  api: DroverApi,
  runId: string,
  name: string,
  opts: Output & { output?: string },
): Promise<number> {
  return download(() => api.getRunArtifact(runId, name), name, runId, opts);
}

/** `drover diff <run> [-o file]`: the run's diff as a patch. */
export async function diff(
  api: DroverApi,
  runId: string,
  opts: Output & { output?: string },
): Promise<number> {
  return download(() => api.getRunDiff(runId), 'diff.patch', runId, opts);
}

async function download(
  fetchContent: () => Promise<RawContent>,
  name: string,
  runId: string,
  opts: Output & { output?: string },
): Promise<number> {
  const { body, size } = await fetchContent();
  const source = Readable.fromWeb(body);
  const written = opts.output ? await toFile(source, opts.output) : await toStdout(source);
  if (size !== null && written !== size) {
    throw new Error(`the download of ${name} stopped after ${written} of ${size} bytes`);
  }
  if (opts.output) {
    print(opts, `saved ${name} of run ${runId} to ${opts.output} (${formatBytes(written)})`, {
      runId,
      name,
      file: opts.output,
      size: written,
    });
  }
  return 0;
}

/** Writes beside `file` first, so a failed download never leaves a truncated `file`. */
async function toFile(source: Readable, file: string): Promise<number> {
  const temp = join(dirname(file), `.${basename(file)}.${randomBytes(6).toString('hex')}.part`);
  let bytes = 0;
  const count = async function* (chunks: AsyncIterable<Buffer>) {
    for await (const chunk of chunks) {
      bytes += chunk.length;
      yield chunk;
    }
  };
  try {
    await pipeline(source, count, createWriteStream(temp, { flags: 'wx' }));
    await rename(temp, file);
  } catch (error) {
    await rm(temp, { force: true });
    throw new Error(`cannot save to ${file}: ${(error as Error).message}`);
  }
  return bytes;
}

/** Copies to stdout, which stays open (it is not ours to close). */
async function toStdout(source: Readable): Promise<number> {
  let bytes = 0;
  for await (const chunk of source) {
    const data = chunk as Buffer;
    bytes += data.length;
    if (!process.stdout.write(data)) await once(process.stdout, 'drain');
  }
  return bytes;
}
