import { z } from 'zod';
import { ErrorBody } from '../error-body';
import { published } from './schema-registry';

export const Usage = published(
  'Usage',
  z
    .object({
      costUsd: z.number().nullable(),
      inputTokens: z.number().nullable(),
      outputTokens: z.number().nullable(),
    })
    .describe(
      'What runs cost, as their agents reported it; a figure is null when none reported it',
    ),
);
export type Usage = z.input<typeof Usage>;

/** Every error answer (4xx, 5xx): `{ error: { code, message, details? } }`. */
export const ErrorResponse = published(
  'Error',
  z
    .object({ error: ErrorBody })
    .describe(
      'Every error: a stable `code`, a `message` for people, and `details` naming each bad field (`path`) and, in a document, its `line` and `column`',
    ),
);
export type ErrorResponse = z.input<typeof ErrorResponse>;
