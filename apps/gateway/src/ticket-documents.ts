import { isUtf8 } from 'node:buffer';
import type { Request } from 'express';
import {
  DOCUMENT_LIMITS,
  parseTicketDocument,
  parseWorkOrder,
  SubmitTicket,
  ticketFormatOf,
  type LocatedIssue,
} from '@drover/contracts';
import { ApiError, parseOrThrow } from './api-error';

/** Media types a ticket may come as besides JSON: a Markdown work order, a YAML ticket. */
export const DOCUMENT_TYPES = [
  'text/markdown',
  'text/x-markdown',
  'application/yaml',
  'application/x-yaml',
  'text/yaml',
];

/** The form field a multipart upload carries its file in. */
export const UPLOAD_FIELD = 'file';

/** An uploaded file as multer hands it over (memory storage). */
export interface Upload {
  originalname: string;
  mimetype: string;
  buffer: Buffer;
}

/**
 * The ticket a `POST /tickets` carries, in whichever form it came: a JSON body,
 * a Markdown work order or a YAML ticket as the body, or any of them uploaded as
 * the form field `file` (its name or type says which; a work order's file name
 * gives its task key). Errors name the field and, for documents, the line.
 */
export function ticketOf(req: Request, body: unknown, upload: Upload | undefined): SubmitTicket {
  const contentType = req.get('content-type') ?? '';
  if (upload) {
    const format = ticketFormatOf(upload.originalname) ?? ticketFormatOf(upload.mimetype);
    if (!format) {
      throw new ApiError(
        415,
        'UNSUPPORTED_MEDIA_TYPE',
        `upload a .md work order, a .yaml/.yml or a .json ticket (got "${upload.originalname}", ${upload.mimetype})`,
      );
    }
    return parseDocument(
      utf8(upload.buffer, `the file ${upload.originalname}`),
      format,
      upload.originalname,
    );
  }
  if (/^multipart\/form-data\b/i.test(contentType)) {
    throw new ApiError(
      400,
      'MISSING_FILE',
      `a multipart submission carries the ticket file in the form field "${UPLOAD_FIELD}"`,
      [{ path: `form.${UPLOAD_FIELD}`, message: 'missing' }],
    );
  }
  const format = DOCUMENT_TYPES.some((t) => contentType.toLowerCase().startsWith(t))
    ? ticketFormatOf(contentType)
    : undefined;
  if (format && typeof body === 'string') return parseDocument(body, format);
  if (!/^application\/json\b/i.test(contentType)) {
    throw new ApiError(
      415,
      'UNSUPPORTED_MEDIA_TYPE',
      `send the ticket as application/json, text/markdown (a work order), application/yaml, or a multipart upload in the field "${UPLOAD_FIELD}" (got ${contentType || 'no content type'})`,
    );
  }
  return parseOrThrow(SubmitTicket, body, 'body');
}

function utf8(buffer: Buffer, what: string): string {
  if (!isUtf8(buffer)) throw new ApiError(400, 'BAD_REQUEST', `${what} is not valid UTF-8`);
  return buffer.toString('utf8');
}

function parseDocument(text: string, format: 'markdown' | 'yaml' | 'json', name?: string) {
  const parsed =
    format === 'markdown'
      ? parseWorkOrder(text, name?.replace(/\.[^.]*$/, ''))
      : parseTicketDocument(text, format);
  if (parsed.ok) return parsed.ticket;
  const what = format === 'markdown' ? 'work order' : `${format.toUpperCase()} ticket`;
  throw new ApiError(
    422,
    'INVALID_DOCUMENT',
    `invalid ${what}${name ? ` ${name}` : ''}: ${describe(parsed.issues)}`,
    parsed.issues.map(({ path, message, line, column }) => ({
      path: path || '(document)',
      message,
      ...(line === undefined ? {} : { line }),
      ...(column === undefined ? {} : { column }),
    })),
  );
}

function describe(issues: readonly LocatedIssue[]): string {
  const shown = issues.slice(0, 5).map((i) => {
    const where = i.line === undefined ? '' : `line ${i.line}: `;
    return `${where}${i.path ? `${i.path}: ` : ''}${i.message}`;
  });
  return `${shown.join('; ')}${issues.length > 5 ? `; and ${issues.length - 5} more` : ''}`;
}

/** multer's limits for an upload: one file, no larger than a document may be. */
export const UPLOAD_LIMITS = {
  files: 1,
  fields: 0,
  parts: 1,
  fileSize: DOCUMENT_LIMITS.documentBytes,
};
