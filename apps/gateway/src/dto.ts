import { createZodDto } from 'nestjs-zod';
import { z } from 'zod';
import { AnswerBody, DecisionBody, SubmitExperiment, SubmitTicket } from '@drover/contracts';

export class SubmitTicketDto extends createZodDto(SubmitTicket) {}
export class DecisionBodyDto extends createZodDto(DecisionBody) {}
export class AnswerBodyDto extends createZodDto(AnswerBody) {}
export class SubmitExperimentDto extends createZodDto(SubmitExperiment) {}

export const IdParam = z.object({ id: z.uuid({ message: 'must be a UUID' }) });

/** `name` is checked with the artifact store's own rule (`checkArtifactName`), not here. */
export const ArtifactParams = IdParam.extend({ name: z.string() });
