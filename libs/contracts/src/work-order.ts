import { isMap, isScalar, type YAMLMap } from 'yaml';
import type { z } from 'zod';
import { jsonProblem } from './json-syntax';
import {
  failed,
  FIRST_LINE,
  issue,
  type LocatedIssue,
  type Position,
  type Segment,
} from './located-issue';
import { unknownField, zodIssues } from './schema-issues';
import { isCliAgent } from './task-spec';
import { SubmitTicket, SweepDocument } from './tickets';
import {
  DOCUMENT_LIMITS,
  kindOf,
  locate,
  offsetOf,
  readYaml,
  sizeProblem,
  type YamlText,
} from './yaml-document';

export type { LocatedIssue } from './located-issue';
export { DOCUMENT_LIMITS } from './yaml-document';

export type ParsedDocument<T> = { ok: true; ticket: T } | { ok: false; issues: LocatedIssue[] };
export type ParsedTicket = ParsedDocument<SubmitTicket>;

const TICKET_FIELDS = ['title', 'priority', 'labels', 'project', 'budget_usd'] as const;
const TASK_FIELDS = [
  'key',
  'agent',
  'model',
  'repo',
  'clone_branch',
  'push_branch',
  'max_iterations',
  'acceptance_commands',
  'allowed_paths',
  'forbidden_paths',
  'context_files',
  'env',
  'timeout',
  'timeout_seconds',
  'steps',
  'solution',
  'image',
  'network',
  'resources',
  'retry',
  'requires_approval',
  'approval_timeout',
] as const;

/** A work order's front-matter keys: the ticket's, then its one task's (`title` names both). */
export const WORK_ORDER_FIELDS: readonly string[] = [...TICKET_FIELDS, ...TASK_FIELDS];

// Ticket fields a work order has no key for, and where their content goes instead.
const ONE_TASK = 'a work order is a ticket of one task; write a YAML or JSON ticket for more';
const FIELD_HINTS = new Map<string, string>([
  ['prompt', 'the body is the prompt'],
  ['description', 'the body is the description, for agents other than CLI agents'],
  ...['tasks', 'phases', 'depends_on', 'when', 'on_failure', 'phase'].map(
    (field): [string, string] => [field, ONE_TASK],
  ),
]);

/**
 * A work order: YAML front matter between `---` lines, then a Markdown body that
 * is the prompt of a CLI agent, or else the ticket's description. `name` (the
 * file's name) gives the task key when the front matter has none.
 */
export function parseWorkOrder(text: string, name?: string): ParsedTicket {
  return readWorkOrder(text, name, SubmitTicket, false);
}

/**
 * A task of a sweep, as a work order or a one-task ticket document: its fields
 * checked alone, not against an agent (each trial's agent is checked when the
 * sweep is expanded); a work order's body is always the prompt.
 */
export function parseSweepTask(
  text: string,
  format: 'markdown' | 'yaml' | 'json',
  name?: string,
): ParsedDocument<SweepDocument> {
  return format === 'markdown'
    ? readWorkOrder(text, name, SweepDocument, true)
    : readTicketDocument(text, format, SweepDocument);
}

function readWorkOrder<T>(
  text: string,
  name: string | undefined,
  schema: z.ZodType<T>,
  template: boolean,
): ParsedDocument<T> {
  const tooBig = sizeProblem(text, DOCUMENT_LIMITS.documentBytes, 'the work order');
  if (tooBig) return failed([issue('', tooBig, FIRST_LINE)]);
  const parts = splitWorkOrder(text);
  if ('message' in parts) return failed([parts]);
  const read = readYaml(parts.frontMatter, 2);
  if (!read.ok) return failed(read.issues);
  const { yaml, value: fields, issues } = read;
  const root = yaml.doc.contents;
  if (!isMap(root) || !isRecord(fields)) {
    const problem = `the front matter must be a mapping of fields such as "title: ..."; it is ${kindOf(root)}`;
    return failed([issue('', problem, yaml.at(offsetOf(root)))]);
  }
  issues.push(...unknownFields(yaml, root));
  const agent = fields.agent ?? 'command';
  const cli = template || (typeof agent === 'string' && isCliAgent(agent));
  const body = bodyOf(parts);
  if (cli && !template && !body.text) {
    issues.push(issue('body', 'the body is the prompt and is empty', body.at));
  }
  const ticket = workOrderTicket(fields, body.text, cli, name);
  const result = schema.safeParse(ticket);
  if (result.success && issues.length === 0) return { ok: true, ticket: result.data };
  for (const { path, message } of result.success ? [] : zodIssues(result.error)) {
    const target = workOrderPath(path);
    if (target !== 'body') issues.push(issue(target, message, yaml.at(locate(yaml, target))));
    else if (body.text) issues.push(issue('body', message, body.at));
  }
  return failed(issues);
}

/** A whole ticket (`title`, `tasks` or `phases`, ...) as YAML or JSON. */
export function parseTicketDocument(text: string, format: 'yaml' | 'json'): ParsedTicket {
  return readTicketDocument(text, format, SubmitTicket);
}

function readTicketDocument<T>(
  text: string,
  format: 'yaml' | 'json',
  schema: z.ZodType<T>,
): ParsedDocument<T> {
  const tooBig = sizeProblem(text, DOCUMENT_LIMITS.documentBytes, 'the ticket document');
  if (tooBig) return failed([issue('', tooBig, FIRST_LINE)]);
  const source = text.replace(/^\uFEFF/, '');
  const notJson = format === 'json' ? jsonProblem(source) : undefined;
  if (notJson) return failed([notJson]);
  const read = readYaml(source, 1);
  if (!read.ok) return failed(read.issues);
  const { yaml, value, issues } = read;
  if (!isMap(yaml.doc.contents)) {
    const problem = `a ticket document must be a mapping with title and tasks or phases; it is ${kindOf(yaml.doc.contents)}`;
    return failed([issue('', problem, yaml.at(offsetOf(yaml.doc.contents)))]);
  }
  const result = schema.safeParse(value);
  if (result.success && issues.length === 0) return { ok: true, ticket: result.data };
  for (const { path, message } of result.success ? [] : zodIssues(result.error)) {
    issues.push(issue(path, message, yaml.at(locate(yaml, path))));
  }
  return failed(issues);
}

/** By file name or media type: work order (Markdown), YAML or JSON; undefined for anything else. */
export function ticketFormatOf(nameOrMediaType: string): 'markdown' | 'yaml' | 'json' | undefined {
  const lower = nameOrMediaType.trim().toLowerCase();
  const mediaType = lower.split(';')[0].trim();
  const byMediaType = {
    'text/markdown': 'markdown',
    'text/x-markdown': 'markdown',
    'application/yaml': 'yaml',
    'application/x-yaml': 'yaml',
    'text/yaml': 'yaml',
    'application/json': 'json',
  } as const;
  if (Object.hasOwn(byMediaType, mediaType))
    return byMediaType[mediaType as keyof typeof byMediaType];
  const extension = lower.slice(lower.lastIndexOf('.'));
  if (extension === '.md' || extension === '.markdown') return 'markdown';
  if (extension === '.yaml' || extension === '.yml') return 'yaml';
  if (extension === '.json') return 'json';
  return undefined;
}

/** The front matter and the body, or why the text is not a work order. */
function splitWorkOrder(
  text: string,
): { frontMatter: string; body: string; bodyLine: number } | LocatedIssue {
  const lines = text
    .replace(/^\uFEFF/, '')
    .replace(/\r\n/g, '\n')
    .split('\n');
  if (!/^---[ \t]*$/.test(lines[0])) {
    const message = 'a work order starts with a "---" line, then YAML front matter, then "---"';
    return issue('', message, FIRST_LINE);
  }
  const close = lines.findIndex((line, i) => i > 0 && /^(?:---|\.\.\.)[ \t]*$/.test(line));
  if (close < 0) {
    const message = 'the front matter opened by "---" on line 1 has no closing "---" line';
    return issue('', message, FIRST_LINE);
  }
  const frontMatter = lines.slice(1, close).join('\n');
  const tooBig = sizeProblem(frontMatter, DOCUMENT_LIMITS.frontMatterBytes, 'the front matter');
  if (tooBig) return issue('', tooBig, FIRST_LINE);
  return { frontMatter, body: lines.slice(close + 1).join('\n'), bodyLine: close + 2 };
}

/** Front-matter keys that are not work-order fields, each with a hint or the closest field. */
function unknownFields(yaml: YamlText, root: YAMLMap): LocatedIssue[] {
  return root.items
    .map(({ key }) => ({ key, field: isScalar(key) ? String(key.value) : '' }))
    .filter(({ field }) => !WORK_ORDER_FIELDS.includes(field))
    .map(({ key, field }) =>
      issue([field], unknownField(field, WORK_ORDER_FIELDS, FIELD_HINTS), yaml.at(offsetOf(key))),
    );
}

/** The body, trimmed, and where it starts: its first line with text, else the line after the fence. */
function bodyOf(parts: { body: string; bodyLine: number }): { text: string; at: Position } {
  const text = parts.body.trim();
  const blank = parts.body.slice(0, parts.body.length - parts.body.trimStart().length);
  const line = parts.bodyLine + (text ? blank.split('\n').length - 1 : 0);
  return { text, at: { line, column: 1 } };
}

/**
 * The SubmitTicket input a work order stands for, not yet checked: the body is
 * the task's prompt for a CLI agent, else the ticket's description.
 */
function workOrderTicket(
  fields: Record<string, unknown>,
  body: string,
  cli: boolean,
  name: string | undefined,
) {
  // Only names from the fixed lists are copied, so no key of the file lands on these objects.
  const pick = (names: readonly string[]) =>
    Object.fromEntries(names.filter((n) => Object.hasOwn(fields, n)).map((n) => [n, fields[n]]));
  const task = { key: keyFromName(name), ...pick(['title', ...TASK_FIELDS]) };
  return {
    ...pick(TICKET_FIELDS),
    ...(body && !cli ? { description: body } : {}),
    tasks: [body && cli ? { ...task, prompt: body } : task],
  };
}

/** Where a zod path of the one-task ticket built from a work order was written. */
function workOrderPath(path: readonly Segment[]): Segment[] | 'body' {
  if (path[0] === 'description') return 'body';
  if (path[0] !== 'tasks' || path[1] !== 0 || path.length < 3) return [...path];
  return path[2] === 'prompt' ? 'body' : path.slice(2);
}

/** A task key from a file name: `Fix Add.md` -> `fix-add`; `work-order` when nothing usable is left. */
function keyFromName(name: string | undefined): string {
  const base = name?.split(/[\\/]/).pop() ?? '';
  const stem = base.includes('.') ? base.slice(0, base.lastIndexOf('.')) : base;
  const key = stem
    .toLowerCase()
    .replace(/[^a-z0-9_-]+/g, '-')
    .slice(0, 63);
  return /^[a-z0-9]/.test(key) ? key : 'work-order';
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
