import type { z } from 'zod';
import type { CreateKey, CreateProject } from '../access';
import type { AnswerBody, DecisionBody } from '../decisions';
import type { SubmitExperiment } from '../experiments';
import type { SubmitTicket } from '../tickets';

// The request bodies as a client writes them (`z.input`: defaults may be left
// out). Types only: their schemas check more (a task's spec, networks, sealed
// secrets) than a browser bundle should carry; the gateway checks every body.

/** `POST /tickets` as JSON: `tasks`, or `phases`. */
export type CreateTicketBody = z.input<typeof SubmitTicket>;
/** `POST /experiments`. */
export type CreateExperimentBody = z.input<typeof SubmitExperiment>;
/** `POST /projects`. */
export type CreateProjectBody = z.input<typeof CreateProject>;
/** `POST /projects/:id/keys`. */
export type CreateKeyBody = z.input<typeof CreateKey>;
/** `POST /tasks/:id/approve` and `/reject`. */
export type DecideTaskBody = z.input<typeof DecisionBody>;
/** `POST /tasks/:id/input`. */
export type AnswerTaskInputBody = z.input<typeof AnswerBody>;
