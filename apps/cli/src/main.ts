#!/usr/bin/env node
// Exit codes (EXIT in errors.ts, listed by `drover --help`): 0 success; 1 a followed ticket
// did not succeed; 2 usage or input error; 3 the API refused (4xx); 4 unreachable or 5xx;
// 5 the output could not be written.
import { describeError, EXIT, exitCodeOf } from './errors';
import { exitWhenWritten, watchOutput } from './output';
import { buildProgram } from './program';

let exitCode: number = EXIT.ok;
watchOutput(() => exitCode);
buildProgram((code) => (exitCode = code))
  .parseAsync(process.argv)
  .then(() => exitWhenWritten(exitCode))
  .catch((error: Error & { code?: string }) => {
    // commander has already printed its message (and the help, after an error).
    if (error.code?.startsWith('commander.')) {
      const shown = error.code === 'commander.helpDisplayed' || error.code === 'commander.version';
      return exitWhenWritten(shown ? EXIT.ok : EXIT.usage);
    }
    process.stderr.write(`${describeError(error).join('\n')}\n`);
    return exitWhenWritten(exitCodeOf(error));
  });
