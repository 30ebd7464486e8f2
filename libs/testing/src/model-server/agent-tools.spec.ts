import schemas from './fixtures/cli-tool-schemas.json';
import { agentTools, type ScriptedAgent, shellQuote } from './agent-tools';
import type { ToolCall } from './script';

/**
 * The fixture holds the shape of the tools each real CLI declared to the scripted model
 * server (claude-code 2.1.328, codex 0.171.0 `--model gpt-5.5`, gemini-cli 0.61.0,
 * opencode 1.18.33): every helper's call must name a declared tool and fit its schema.
 */
interface Schema {
  type: string;
  required?: string[];
  properties?: Record<string, { type: string | null }>;
  additionalProperties?: boolean;
}
const declared = schemas as Record<ScriptedAgent, Record<string, Schema>>;

const AGENTS: ScriptedAgent[] = ['claude-code', 'codex', 'gemini-cli', 'opencode'];

function callsOf(agent: ScriptedAgent): ToolCall[] {
  const tools = agentTools(agent, '/workspace');
  return [
    tools.readFile('src/a.ts'),
    tools.writeFile('src/new.ts', 'export const x = 1;\n'),
    tools.editFile('src/a.ts', 'const a = 1;', 'const a = 2;'),
    tools.runCommand('npm test'),
  ];
}

function problemsOf(call: ToolCall, schema: Schema | undefined): string[] {
  if (schema === undefined) return [`${call.name} is not a tool the CLI declares`];
  if (schema.type === 'custom') {
    return typeof call.input === 'string' ? [] : [`${call.name} takes free-form text`];
  }
  if (typeof call.input === 'string') return [`${call.name} takes a JSON object`];
  const input = call.input;
  const properties = schema.properties ?? {};
  return [
    ...(schema.required ?? []).filter((key) => !(key in input)).map((key) => `missing ${key}`),
    ...Object.entries(input).flatMap(([key, value]) => {
      const property = properties[key];
      if (property === undefined) return [`unknown property ${key}`];
      return property.type === typeof value ? [] : [`${key} is not a ${property.type}`];
    }),
  ];
}

describe('agentTools', () => {
  it.each(AGENTS)('gives %s calls that fit the tools the real CLI declared', (agent) => {
    for (const call of callsOf(agent)) {
      expect({ call: call.name, problems: problemsOf(call, declared[agent][call.name]) }).toEqual({
        call: call.name,
        problems: [],
      });
    }
  });

  it('names each CLI its own tools', () => {
    expect(Object.fromEntries(AGENTS.map((a) => [a, callsOf(a).map((c) => c.name)]))).toEqual({
      'claude-code': ['Read', 'Write', 'Edit', 'Bash'],
      codex: ['exec_command', 'apply_patch', 'apply_patch', 'exec_command'],
      'gemini-cli': ['read_file', 'write_file', 'replace', 'run_shell_command'],
      opencode: ['read', 'write', 'edit', 'bash'],
    });
  });

  it('resolves paths against the working directory for the CLIs that want them absolute', () => {
    expect(agentTools('claude-code', '/repo').readFile('a/b.txt').input).toEqual({
      file_path: '/repo/a/b.txt',
    });
    expect(agentTools('opencode', '/repo').writeFile('/etc/x', 'y').input).toEqual({
      filePath: '/etc/x',
      content: 'y',
    });
    expect(agentTools('gemini-cli').readFile('../up.txt').input).toEqual({ file_path: '/up.txt' });
  });

  it('writes codex edits in its patch grammar', () => {
    const codex = agentTools('codex');
    expect(codex.writeFile('dir/new.txt', 'one\ntwo\n').input).toBe(
      '*** Begin Patch\n*** Add File: dir/new.txt\n+one\n+two\n*** End Patch\n',
    );
    expect(codex.editFile('a.txt', 'old 1\nold 2', 'new').input).toBe(
      '*** Begin Patch\n*** Update File: a.txt\n@@\n-old 1\n-old 2\n+new\n*** End Patch\n',
    );
  });

  it('quotes a path for the codex shell so nothing in it runs', () => {
    expect(shellQuote(`it's $(x)`)).toBe(`'it'\\''s $(x)'`);
    expect(agentTools('codex').readFile(`a b'c`).input).toEqual({ cmd: `cat -- 'a b'\\''c'` });
  });
});
