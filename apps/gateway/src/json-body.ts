import { isUtf8 } from 'node:buffer';
import type { IncomingMessage } from 'node:http';
import { jsonDuplicateKey } from '@drover/contracts';
import { ApiError } from './api-error';

// What the JSON body parser checks of a body before it parses it (its `verify`).

/** JSON's encodings: UTF-8 (RFC 8259), and UTF-16 and UTF-32 as RFC 4627 allowed. */
const JSON_CHARSETS = new Set([
  'utf-8',
  'utf-16',
  'utf-16le',
  'utf-16be',
  'utf-32',
  'utf-32le',
  'utf-32be',
]);

/**
 * body-parser takes any utf-* charset (UTF-7 too, which hides characters from whatever
 * inspects the bytes) and decodes invalid UTF-8 into U+FFFD: both refused instead.
 * `charset` is the body's (utf-8 unless the content type names another).
 */
export function refuseInvalidUtf8(
  _req: IncomingMessage,
  _res: unknown,
  body: Buffer,
  charset: string,
): void {
  if (!JSON_CHARSETS.has(charset)) {
    throw Object.assign(new Error(`unsupported charset "${charset.toUpperCase()}"`), {
      status: 415,
      type: 'charset.unsupported',
    });
  }
  if (charset === 'utf-8' && !isUtf8(body)) {
    throw Object.assign(new Error('request body is not valid UTF-8'), {
      status: 400,
      type: 'entity.verify.failed',
    });
  }
}

/** A JSON body: in a charset JSON allows, valid if UTF-8, and no key twice in an object. */
export function verifyJson(
  req: IncomingMessage,
  res: unknown,
  body: Buffer,
  charset: string,
): void {
  refuseInvalidUtf8(req, res, body, charset);
  refuseDuplicateKeys(decoded(body, charset));
}

/** A 422 naming the first key an object of `text` holds twice, and where. */
function refuseDuplicateKeys(text: string): void {
  const duplicate = jsonDuplicateKey(text);
  if (!duplicate) return;
  const detail = { ...duplicate, path: duplicate.path ? `body.${duplicate.path}` : 'body' };
  const at = `line ${detail.line}, column ${detail.column}`;
  throw new ApiError(
    422,
    'INVALID_REQUEST',
    `invalid body: ${detail.path}: ${detail.message} at ${at}`,
    [detail],
  );
}

/** The body's text, decoded as body-parser decodes it for JSON.parse. */
function decoded(body: Buffer, charset: string): string {
  if (charset.startsWith('utf-32')) return utf32(body, charset);
  // A UTF-16 body without its byte order in the charset says it with a BOM (little-endian without).
  const bigEndian = charset === 'utf-16' && body[0] === 0xfe && body[1] === 0xff;
  const label = charset === 'utf-16' ? (bigEndian ? 'utf-16be' : 'utf-16le') : charset;
  return new TextDecoder(label).decode(body);
}

/** UTF-32, which TextDecoder does not know: big-endian unless the charset or a BOM says little. */
function utf32(body: Buffer, charset: string): string {
  const bom = body.length >= 4 && body.readUInt32LE(0) === 0xfeff;
  const little = charset === 'utf-32le' || (charset === 'utf-32' && bom);
  const parts: string[] = [];
  // In slices: String.fromCodePoint takes its code points as arguments.
  for (let from = 0; from < body.length; from += 4 * 8192) {
    const points: number[] = [];
    for (let i = from; i + 4 <= Math.min(body.length, from + 4 * 8192); i += 4) {
      const point = little ? body.readUInt32LE(i) : body.readUInt32BE(i);
      points.push(point <= 0x10ffff ? point : 0xfffd);
    }
    parts.push(String.fromCodePoint(...points));
  }
  return parts.join('');
}
