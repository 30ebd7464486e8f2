import type { ArtifactMeta } from './artifact-store';

/**
 * A locally stored artifact is one file: a header line naming the format, a
 * line of JSON with the content type, size and SHA-256, then the body. One file
 * means one rename replaces body and metadata together.
 */
const MAGIC = Buffer.from('drover-artifact/1\n', 'utf8');
/** Longer than any header we write (the content type is at most 255 characters). */
export const MAX_HEADER_BYTES = 1024;
const SHA256_HEX = /^[0-9a-f]{64}$/;

export type LocalArtifactHeader = Omit<ArtifactMeta, 'name'>;

export function encodeHeader(header: LocalArtifactHeader): Buffer {
  const json = JSON.stringify({
    contentType: header.contentType,
    size: header.size,
    sha256: header.sha256,
  });
  return Buffer.concat([MAGIC, Buffer.from(`${json}\n`, 'utf8')]);
}

/**
 * The header at the start of `head` (a stored file's first bytes) and its
 * length in bytes; undefined when `head` does not start with one.
 */
export function decodeHeader(
  head: Buffer,
): { header: LocalArtifactHeader; length: number } | undefined {
  if (head.length < MAGIC.length || !head.subarray(0, MAGIC.length).equals(MAGIC)) return undefined;
  const end = head.indexOf(0x0a, MAGIC.length);
  if (end < 0) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(head.subarray(MAGIC.length, end).toString('utf8'));
  } catch {
    return undefined;
  }
  return isHeader(value) ? { header: value, length: end + 1 } : undefined;
}

function isHeader(value: unknown): value is LocalArtifactHeader {
  if (typeof value !== 'object' || value === null) return false;
  const { contentType, size, sha256 } = value as Record<string, unknown>;
  return (
    typeof contentType === 'string' &&
    typeof size === 'number' &&
    Number.isSafeInteger(size) &&
    size >= 0 &&
    typeof sha256 === 'string' &&
    SHA256_HEX.test(sha256)
  );
}
