import { MIN_SECRET_LENGTH } from '@drover/contracts';

/** What a secret value is replaced with. */
export const REDACTED = '***';

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * Replaces a run's secret values with `***` in what the runner reports: log
 * lines, artifacts, results and error messages. Output reaches it as whole lines
 * (the drivers split streams on newlines), so a secret cut across two chunks of
 * a stream is still one string here. A multi-line secret is also looked for line
 * by line. Values (or lines of them) shorter than MIN_SECRET_LENGTH are not:
 * masking them would mangle the output and, in its pattern, still tell them.
 */
export class Redactor {
  private pattern: RegExp | undefined;
  private readonly values = new Set<string>();

  constructor(secrets: readonly string[] = []) {
    this.add(secrets);
  }

  add(secrets: readonly string[]): void {
    for (const secret of secrets) {
      for (const value of [secret, ...secret.split(/\r\n|\r|\n/)]) {
        if (value.length >= MIN_SECRET_LENGTH) this.values.add(value);
      }
    }
    // Longest first: where one secret contains another, the whole of it is replaced.
    const sorted = [...this.values].sort((a, b) => b.length - a.length);
    this.pattern = sorted.length ? new RegExp(sorted.map(escape).join('|'), 'g') : undefined;
  }

  text(text: string): string {
    return this.pattern ? text.replace(this.pattern, REDACTED) : text;
  }

  /**
   * `value` with every string in it redacted, keys included. For what is sent as
   * JSON: redacted before it is serialised, so no escaping can hide a secret.
   */
  value<T>(value: T): T {
    if (!this.pattern) return value;
    return this.deep(value) as T;
  }

  private deep(value: unknown): unknown {
    if (typeof value === 'string') return this.text(value);
    if (Array.isArray(value)) return value.map((item) => this.deep(item));
    if (typeof value === 'object' && value !== null && !(value instanceof Date)) {
      return Object.fromEntries(
        Object.entries(value).map(([key, item]) => [this.text(key), this.deep(item)]),
      );
    }
    return value;
  }
}
