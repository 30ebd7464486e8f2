// The demo's model: the scripted model server of the tests (libs/testing), speaking
// the Anthropic Messages API so that the real Claude Code CLI works through it, and
// answering, turn by turn, what a model fixing the demo repository would. Started
// by `npm run demo` when no ANTHROPIC_API_KEY is set:
//
//   tsx --tsconfig tsconfig.json tools/demo-model.ts
//
// It prints one JSON line, `{"anthropic":"http://127.0.0.1:<port>/anthropic"}` (the
// runner's ANTHROPIC_BASE_URL), then serves until SIGTERM or SIGINT, when it prints
// what it was asked (one line per model call) and whether the script was played out.
import { agentTools, type ModelScript, startModelServer } from '@drover/testing';

const claude = agentTools('claude-code');

/**
 * Two Claude Code sessions, one per iteration of the demo's ticket. The first
 * swaps the operands of `add` (the repository's test still fails); the second,
 * whose prompt carries that failure, makes it add and runs the test itself.
 */
export const DEMO_SCRIPT: ModelScript = {
  sessions: [
    [
      { text: 'Let me look at add.', tool: claude.readFile('src/add.sh') },
      {
        text: 'The operands look swapped; swapping them.',
        tool: claude.editFile('src/add.sh', '$1 - $2', '$2 - $1'),
      },
      { text: 'Swapped the operands of add in src/add.sh.' },
    ],
    [
      { text: 'The test still fails: 2 and 3 should give 5.', tool: claude.readFile('src/add.sh') },
      {
        text: 'add subtracts; it should add.',
        tool: claude.editFile('src/add.sh', '$2 - $1', '$1 + $2'),
      },
      { text: 'Running the test suite.', tool: claude.runCommand('sh test.sh') },
      { text: 'Fixed: add now prints the sum of its arguments, and `sh test.sh` passes.' },
    ],
  ],
};

async function main(): Promise<void> {
  const server = await startModelServer({ script: DEMO_SCRIPT });
  process.stdout.write(`${JSON.stringify({ anthropic: server.baseUrls.anthropic })}\n`);
  const stop = async () => {
    for (const request of server.requests.filter((r) => r.kind === 'main')) {
      const at = request.at
        ? `session ${request.at.session + 1}, turn ${request.at.turn + 1}`
        : '-';
      process.stdout.write(`model call: ${at}: ${request.status}\n`);
    }
    const left = server.remaining();
    process.stdout.write(
      `script ${left.length ? `NOT played out (left: ${left.join(', ')})` : 'played out'}; problems: ${server.problems.join('; ') || 'none'}\n`,
    );
    await server.close();
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop());
  process.once('SIGINT', () => void stop());
}

void main();
