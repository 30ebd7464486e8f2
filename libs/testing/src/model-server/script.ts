/**
 * What the scripted model server answers, turn by turn. A script is a list of sessions,
 * one per CLI invocation; each session is the list of main-loop turns the model "takes".
 */

/** One tool call, in the CLI's own tool vocabulary (see agent-tools.ts). */
export interface ToolCall {
  readonly name: string;
  /**
   * The call's arguments. A string is the raw input of a free-form ("custom") tool, such
   * as Codex's `apply_patch` grammar tool; everything else is a JSON object.
   */
  readonly input: Record<string, unknown> | string;
}

/** Token figures of one model answer, as the provider reports them. */
export interface TurnUsage {
  /** Input tokens not read from or written to the prompt cache. */
  readonly input: number;
  readonly output: number;
  readonly cacheRead?: number;
  readonly cacheWrite?: number;
  /** Reasoning tokens, a part of `output` where the provider counts them apart. */
  readonly reasoning?: number;
}

export type Turn =
  | {
      readonly tool: ToolCall;
      readonly text?: string;
      readonly usage?: TurnUsage;
    }
  | {
      readonly tools: readonly ToolCall[];
      readonly text?: string;
      readonly usage?: TurnUsage;
    }
  | { readonly text: string; readonly usage?: TurnUsage }
  | {
      /** An HTTP error in the provider's shape: 429 rate limit, 529 overloaded, 5xx. */
      readonly status: number;
      readonly message?: string;
      /** Sent as the `retry-after` header (and Gemini's RetryInfo). */
      readonly retryAfterSeconds?: number;
      /** How many main-loop requests in a row get this error (default 1): the CLI's own retries. */
      readonly repeat?: number;
    };

export interface ModelScript {
  readonly sessions: readonly (readonly Turn[])[];
}

/** A turn made uniform: what a provider encoder turns into its wire format. */
export type Answer =
  | {
      readonly kind: 'reply';
      readonly text: string | null;
      readonly toolCalls: readonly ToolCall[];
      readonly usage: Required<TurnUsage>;
    }
  | {
      readonly kind: 'error';
      readonly status: number;
      readonly message: string;
      readonly retryAfterSeconds: number | null;
    };

export const DEFAULT_USAGE: Required<TurnUsage> = {
  input: 100,
  output: 20,
  cacheRead: 0,
  cacheWrite: 0,
  reasoning: 0,
};

/** Side requests (titles, token counts, checks) cost nothing, so totals are the script's. */
export const SIDE_USAGE: Required<TurnUsage> = {
  input: 0,
  output: 0,
  cacheRead: 0,
  cacheWrite: 0,
  reasoning: 0,
};

/** Checks a script and names the first bad field (`sessions[1][0].tool.name`). */
export function validateScript(script: ModelScript): void {
  if (!Array.isArray(script?.sessions)) throw new Error('script.sessions must be an array');
  script.sessions.forEach((session, s) => {
    if (!Array.isArray(session)) throw new Error(`script.sessions[${s}] must be an array`);
    (session as readonly Turn[]).forEach((turn, t) =>
      validateTurn(turn, `script.sessions[${s}][${t}]`),
    );
  });
}

function validateTurn(turn: Turn, at: string): void {
  if (typeof turn !== 'object' || turn === null) throw new Error(`${at} must be an object`);
  if ('status' in turn) {
    if (!Number.isInteger(turn.status) || turn.status < 400 || turn.status > 599) {
      throw new Error(`${at}.status must be an HTTP error status (400-599)`);
    }
    if (turn.repeat !== undefined && !(Number.isInteger(turn.repeat) && turn.repeat >= 1)) {
      throw new Error(`${at}.repeat must be a positive integer`);
    }
    return;
  }
  const calls = 'tools' in turn ? turn.tools : 'tool' in turn ? [turn.tool] : [];
  if ('tools' in turn && (!Array.isArray(turn.tools) || turn.tools.length === 0)) {
    throw new Error(`${at}.tools must be a non-empty array`);
  }
  calls.forEach((call, i) => {
    const where = 'tools' in turn ? `${at}.tools[${i}]` : `${at}.tool`;
    if (typeof call?.name !== 'string' || call.name === '') {
      throw new Error(`${where}.name must be a tool name`);
    }
    if (typeof call.input !== 'string' && (typeof call.input !== 'object' || call.input === null)) {
      throw new Error(`${where}.input must be an object or a string`);
    }
  });
  if (calls.length === 0 && typeof (turn as { text?: unknown }).text !== 'string') {
    throw new Error(`${at} needs a tool, tools, text or status`);
  }
}

export function toAnswer(turn: Turn): Answer {
  if ('status' in turn) {
    return {
      kind: 'error',
      status: turn.status,
      message: turn.message ?? defaultErrorMessage(turn.status),
      retryAfterSeconds: turn.retryAfterSeconds ?? null,
    };
  }
  const toolCalls = 'tools' in turn ? turn.tools : 'tool' in turn ? [turn.tool] : [];
  return {
    kind: 'reply',
    text: turn.text ?? null,
    toolCalls,
    usage: { ...DEFAULT_USAGE, ...turn.usage },
  };
}

function defaultErrorMessage(status: number): string {
  if (status === 429) return 'Rate limit exceeded (scripted)';
  if (status === 529) return 'Overloaded (scripted)';
  return `Scripted error ${status}`;
}

/** Where the script stands: which session and turn the next main-loop request gets. */
export interface ScriptPosition {
  readonly session: number;
  readonly turn: number;
}

/**
 * Plays a script: a main-loop request that carries only the first user message starts
 * the next session, once the current one has given a reply (a session that has only
 * answered errors so far goes on: the CLI retrying its first request, or started again
 * after a rate limit, gets the next turn). Any other main-loop request gets the next
 * turn of the current session. An error turn answers `repeat` requests in a row.
 */
export class ScriptPlayer {
  private session = -1;
  private turn = 0;
  private errorRepeatsLeft = 0;
  private replied = false;

  constructor(private readonly script: ModelScript) {
    validateScript(script);
  }

  next(startsSession: boolean): { answer: Answer; at: ScriptPosition } | { exhausted: string } {
    if (this.errorRepeatsLeft > 0) return this.serve();
    if (this.session < 0 || (startsSession && this.replied)) {
      this.session += 1;
      this.turn = 0;
      this.replied = false;
    }
    return this.serve();
  }

  /** The turns not played yet, `sessions[s][t]` each: a test asserts none is left. */
  remaining(): string[] {
    const left: string[] = [];
    this.script.sessions.forEach((session, s) =>
      session.forEach((_, t) => {
        if (s > this.session || (s === this.session && t >= this.turn)) {
          left.push(`sessions[${s}][${t}]`);
        }
      }),
    );
    return left;
  }

  private serve(): { answer: Answer; at: ScriptPosition } | { exhausted: string } {
    const turn = this.script.sessions[this.session]?.[this.turn];
    if (turn === undefined) {
      return {
        exhausted:
          this.session >= this.script.sessions.length
            ? `the script has no session ${this.session}`
            : `session ${this.session} of the script has no turn ${this.turn}`,
      };
    }
    const at = { session: this.session, turn: this.turn };
    if ('status' in turn) {
      if (this.errorRepeatsLeft === 0) this.errorRepeatsLeft = turn.repeat ?? 1;
      this.errorRepeatsLeft -= 1;
      if (this.errorRepeatsLeft === 0) this.turn += 1;
    } else {
      this.turn += 1;
      this.replied = true;
    }
    return { answer: toAnswer(turn), at };
  }
}
