import { createZodDto } from 'nestjs-zod';
import { z } from 'zod';
import {
  AnswerBody,
  DecisionBody,
  SubmitExperiment,
  SubmitTicket,
  TicketStatus,
} from '@drover/contracts';

export class SubmitTicketDto extends createZodDto(SubmitTicket) {}
export class DecisionBodyDto extends createZodDto(DecisionBody) {}
export class AnswerBodyDto extends createZodDto(AnswerBody) {}
export class SubmitExperimentDto extends createZodDto(SubmitExperiment) {}

export const IdParam = z.object({ id: z.uuid({ message: 'must be a UUID' }) });

export const pageLimit = (max: number, fallback: number) =>
  z.coerce.number().int().min(1).max(max).default(fallback);

export const ListTicketsQuery = (maxPage: number) =>
  z
    .object({
      status: TicketStatus.optional(),
      limit: pageLimit(maxPage, 50),
      cursor: z.string().max(200).optional(),
    })
    .strict();

export const LogsQuery = (maxPage: number) =>
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

/** `name` is checked with the artifact store's own rule (`checkArtifactName`), not here. */
export const ArtifactParams = IdParam.extend({ name: z.string() });
