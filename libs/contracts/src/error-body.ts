import { z } from 'zod';

/** One problem an error names: a field (`path`) and, in a document such as a work order, where. */
export const ErrorDetail = z.object({
  path: z.string(),
  message: z.string(),
  /** 1-based, when the problem is in a document (a work order, a YAML ticket). */
  line: z.number().int().min(1).optional(),
  column: z.number().int().min(1).optional(),
});
export type ErrorDetail = z.infer<typeof ErrorDetail>;

/** What every error answer says (the gateway's `{ error: ... }`, a failed command's reply). */
export const ErrorBody = z.object({
  code: z.string(),
  message: z.string(),
  /** Each problem; `line` and `column` (1-based) when it comes from a document such as a work order. */
  details: z.array(ErrorDetail).optional(),
  /** For a 429 or 503: when asking again may succeed (the gateway's `Retry-After`). */
  retryAfterSeconds: z.number().int().min(0).optional(),
});
export type ErrorBody = z.infer<typeof ErrorBody>;
