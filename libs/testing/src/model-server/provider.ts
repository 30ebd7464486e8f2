import type { ServerResponse } from 'node:http';
import type { Answer } from './script';

export type ProviderName = 'anthropic' | 'openai' | 'gemini';

/** A tool result the CLI sent back to the model. */
export interface ToolResult {
  readonly callId: string;
  /** The tool's name where the protocol repeats it (Gemini); null otherwise. */
  readonly name: string | null;
  readonly output: string;
}

/** What a provider request says, read the same way for every protocol. */
export interface Conversation {
  readonly model: string | null;
  readonly stream: boolean;
  /** Names of the tools the CLI declared; a main-loop request declares some. */
  readonly toolNames: readonly string[];
  /** No assistant turn yet: the request carries only the first user message. */
  readonly first: boolean;
  /** The system prompt / instructions, joined. */
  readonly system: string;
  /** Every text part of every user message, in order. */
  readonly userTexts: readonly string[];
  readonly toolResults: readonly ToolResult[];
}

/** Ids handed out in answers, unique per server. */
export type NextId = (prefix: string) => string;

/** Encodes answers in one provider's wire format. */
export interface ProviderCodec {
  read(body: unknown): Conversation;
  /** Sends an answer: a reply (streamed when the request asked) or an error. */
  send(res: ServerResponse, answer: Answer, request: Conversation, nextId: NextId): void;
  /** A side request's answer (titles, checks): `text`, no tool call, zero usage. */
  sideText(request: Conversation, body: unknown): string;
}

export const asRecord = (value: unknown): Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};

export const asArray = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);

export const asString = (value: unknown): string | null =>
  typeof value === 'string' ? value : null;

/** The text of a content value that is a string or a list of `{ type, text }` parts. */
export function textsOf(content: unknown, types: readonly string[] = ['text']): string[] {
  if (typeof content === 'string') return [content];
  return asArray(content).flatMap((part) => {
    const record = asRecord(part);
    const text = asString(record.text);
    return text !== null && types.includes(String(record.type)) ? [text] : [];
  });
}
