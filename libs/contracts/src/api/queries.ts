import { z } from 'zod';
import { TicketStatus } from '../domain';

// The query strings of the routes that take one. The gateway parses them with
// these (each a function of its page-size limit); clients build them from the types.

const pageLimit = (max: number, fallback: number) =>
  z.coerce.number().int().min(1).max(max).default(fallback);

/** `GET /tickets?status&limit&cursor`. */
export const ListTicketsQuery = (maxPage: number) =>
  z
    .object({
      status: TicketStatus.optional(),
      limit: pageLimit(maxPage, 50),
      cursor: z.string().max(200).optional(),
    })
    .strict();
export type ListTicketsParams = Partial<z.output<ReturnType<typeof ListTicketsQuery>>>;

/** `GET /runs/:id/logs?after&limit`: lines from `after` (0-based). */
export const RunLogsQuery = (maxPage: number) =>
  z
    .object({
      after: z.coerce
        .number()
        .int()
        .min(0)
        .max(2 ** 31 - 1)
        .default(0),
      limit: pageLimit(maxPage * 10, 1000),
    })
    .strict();
export type RunLogsParams = Partial<z.output<ReturnType<typeof RunLogsQuery>>>;

/** `GET /experiments?limit`. */
export const ListExperimentsQuery = (maxPage: number) =>
  z.object({ limit: pageLimit(maxPage, 50) }).strict();
export type ListExperimentsParams = Partial<z.output<ReturnType<typeof ListExperimentsQuery>>>;
