import { posix } from 'node:path';
import type { ToolCall } from './script';

/** The CLIs the scripted model server can drive. */
export type ScriptedAgent = 'claude-code' | 'codex' | 'gemini-cli' | 'opencode';

/**
 * Tool calls in one CLI's own vocabulary, as its requests declare them (claude-code 2.1.328,
 * codex 0.171.0 with `--model gpt-5.5`, gemini-cli 0.61.0, opencode 1.18.33). Paths are
 * relative to the repository (`workdir`) or absolute.
 */
export interface AgentTools {
  readFile(path: string): ToolCall;
  /** Creates or overwrites a file (codex: creates; its patch grammar cannot overwrite). */
  writeFile(path: string, content: string): ToolCall;
  /** Replaces `oldText` by `newText` (codex: whole lines, through its patch grammar). */
  editFile(path: string, oldText: string, newText: string): ToolCall;
  runCommand(command: string): ToolCall;
}

/** `workdir` is where the CLI runs: `/workspace` in the sandbox. */
export function agentTools(agent: ScriptedAgent, workdir = '/workspace'): AgentTools {
  const abs = (path: string) => posix.resolve(workdir, path);
  switch (agent) {
    case 'claude-code':
      return {
        readFile: (path) => call('Read', { file_path: abs(path) }),
        writeFile: (path, content) => call('Write', { file_path: abs(path), content }),
        editFile: (path, oldText, newText) =>
          call('Edit', { file_path: abs(path), old_string: oldText, new_string: newText }),
        runCommand: (command) => call('Bash', { command, description: 'Run a command' }),
      };
    case 'codex':
      return {
        readFile: (path) => call('exec_command', { cmd: `cat -- ${shellQuote(path)}` }),
        writeFile: (path, content) =>
          call('apply_patch', patch(`*** Add File: ${path}`, plus(content))),
        editFile: (path, oldText, newText) =>
          call(
            'apply_patch',
            patch(`*** Update File: ${path}`, ['@@', ...minus(oldText), ...plus(newText)]),
          ),
        runCommand: (command) => call('exec_command', { cmd: command }),
      };
    case 'gemini-cli':
      return {
        readFile: (path) => call('read_file', { file_path: abs(path) }),
        writeFile: (path, content) => call('write_file', { file_path: abs(path), content }),
        editFile: (path, oldText, newText) =>
          call('replace', {
            file_path: abs(path),
            instruction: `Replace the scripted text in ${path}.`,
            old_string: oldText,
            new_string: newText,
          }),
        runCommand: (command) =>
          call('run_shell_command', { command, description: 'Run a command' }),
      };
    case 'opencode':
      return {
        readFile: (path) => call('read', { filePath: abs(path) }),
        writeFile: (path, content) => call('write', { filePath: abs(path), content }),
        editFile: (path, oldText, newText) =>
          call('edit', { filePath: abs(path), oldString: oldText, newString: newText }),
        runCommand: (command) => call('bash', { command }),
      };
  }
}

const call = (name: string, input: ToolCall['input']): ToolCall => ({ name, input });

/** Codex's apply_patch is a free-form tool: its input is the patch text itself. */
function patch(header: string, body: string[]): string {
  return ['*** Begin Patch', header, ...body, '*** End Patch', ''].join('\n');
}

const linesOf = (text: string) => text.replace(/\n$/, '').split('\n');
const plus = (text: string) => linesOf(text).map((line) => `+${line}`);
const minus = (text: string) => linesOf(text).map((line) => `-${line}`);

/** One POSIX shell word. */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}
