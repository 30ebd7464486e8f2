import { EXIT } from './errors';

/** The first write error on stdout or stderr other than a reader that went away. */
let failure: Error | undefined;

/**
 * Watches stdout and stderr. A reader that went away (EPIPE: `drover logs x |
 * head`) wants no more: the CLI ends at once, quietly, with `code()`. Any other
 * write error (a full disk) is kept: the output is incomplete, so the CLI exits
 * EXIT.output.
 */
export function watchOutput(code: () => number): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EPIPE') process.exit(code());
      failure ??= error;
    });
  }
}

/**
 * Exits with `code` once everything written has reached stdout and stderr.
 * Writes to a pipe are asynchronous: `process.exit` straight away would drop
 * what the pipe had not taken yet (all but its first 64 KiB).
 */
export async function exitWhenWritten(code: number): Promise<never> {
  await Promise.all([written(process.stdout), written(process.stderr)]);
  if (failure) {
    process.stderr.write(`drover: the output could not be written: ${failure.message}\n`);
    await written(process.stderr);
  }
  process.exit(failure ? EXIT.output : code);
}

/** Resolves once what `stream` holds has been written (or could not be). */
function written(stream: NodeJS.WriteStream): Promise<void> {
  if (stream.destroyed || stream.writableFinished) return Promise.resolve();
  // Writes complete in order: this empty one's callback comes after every earlier one.
  return new Promise((resolve) => stream.write('', () => resolve()));
}
