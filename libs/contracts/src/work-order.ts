import {
  Composer,
  isAlias,
  isCollection,
  isMap,
  isNode,
  isScalar,
  isSeq,
  LineCounter,
  Parser,
  type CST,
  type Document,
  type Node as YamlNode,
  type Pair,
  type YAMLMap,
} from 'yaml';
import type { z } from 'zod';
import { CommandStep, isCliAgent, Resources } from './task-spec';
import { PhaseInput, RetryInput, SubmitTicket, SweepDocument, TaskInput } from './tickets';

/**
 * A problem in a work order or ticket document. `path` is the field as the
 * author wrote it (`env.CI`, `tasks.1.steps.0.run`), `body` for a work order's
 * Markdown body, and empty when the problem is the document itself (syntax,
 * size). `line` and `column` are 1-based in the whole file.
 */
export interface LocatedIssue {
  path: string;
  message: string;
  line?: number;
  column?: number;
}

export type ParsedDocument<T> = { ok: true; ticket: T } | { ok: false; issues: LocatedIssue[] };
export type ParsedTicket = ParsedDocument<SubmitTicket>;

/** Bounds that keep a hostile document cheap to refuse. */
export const DOCUMENT_LIMITS = {
  /** A whole work order or ticket document, in UTF-8 bytes. */
  documentBytes: 1024 * 1024,
  frontMatterBytes: 64 * 1024,
  /**
   * Nesting of YAML collections. yaml's composer recurses per level, and a stack
   * overflow there can leave V8 unable to compile a regexp later: the process aborts.
   */
  depth: 64,
  /** yaml's `maxAliasCount`: a "billion laughs" document fails instead of expanding. */
  aliases: 50,
} as const;

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

// The fields of the objects a ticket nests, by the key they sit under, for suggestions.
const TICKET_KEYS = Object.keys(SubmitTicket.in.shape);
const FIELDS_UNDER = new Map<string, readonly string[]>([
  ['tasks', Object.keys(TaskInput.shape)],
  ['phases', Object.keys(PhaseInput.shape)],
  ['steps', Object.keys(CommandStep.shape)],
  ['retry', Object.keys(RetryInput.shape)],
  ['resources', Object.keys(Resources.shape)],
]);

/**
 * The core schema, so `on` and `yes` stay strings; no `<<` merges; no tags beyond
 * the core ones (`!!binary`, `!ruby/object` only warn, and warnings are errors
 * here). `uniqueKeys` is off because yaml checks it in O(n²) per mapping (20,000
 * keys take 3 s): `checkNodes` finds duplicates in one pass instead.
 */
const YAML_OPTIONS = {
  schema: 'core',
  merge: false,
  uniqueKeys: false,
  strict: true,
  resolveKnownTags: false,
  prettyErrors: false,
} as const;

type Segment = string | number;
interface Position {
  line: number;
  column: number;
}
interface YamlText {
  doc: Document.Parsed;
  /** The position in the whole file of an offset in the YAML text. */
  at: (offset: number | undefined) => Position;
  anchors: Map<string, YamlNode>;
  /** Each mapping's entries by key, so finding an issue's node costs no scan. */
  entries: WeakMap<YAMLMap, Map<string, Pair>>;
}
/** Read YAML, with the problems that still leave the rest worth checking (a bad key is left out). */
type YamlRead =
  | { ok: true; yaml: YamlText; value: unknown; issues: LocatedIssue[] }
  | { ok: false; issues: LocatedIssue[] };

const FIRST_LINE: Position = { line: 1, column: 1 };

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

/**
 * YAML as plain data, or every problem with it. Nesting is measured on the
 * parser's tokens (an iterative pass) before the recursive composer sees them.
 */
function readYaml(text: string, firstLine: number): YamlRead {
  const lines = new LineCounter();
  const at = (offset = 0): Position => {
    const { line, col } = lines.linePos(offset);
    return { line: line + firstLine - 1, column: col };
  };
  const tokens = [...new Parser(lines.addNewLine).parse(text)];
  const deep = tooDeepAt(tokens);
  if (deep !== undefined) {
    const message = `nested more than ${DOCUMENT_LIMITS.depth} levels deep`;
    return { ok: false, issues: [issue('', message, at(deep))] };
  }
  const [doc, second] = new Composer(YAML_OPTIONS).compose(tokens, true, text.length);
  const yaml: YamlText = { doc, at, anchors: new Map(), entries: new WeakMap() };
  const fatal = [...doc.errors, ...doc.warnings].map((e) => issue('', e.message, at(e.pos[0])));
  if (second) fatal.push(issue('', 'holds more than one YAML document', at(second.range[0])));
  const { issues, aliasIssues } = checkNodes(yaml);
  fatal.push(...aliasIssues);
  if (fatal.length > 0) return { ok: false, issues: [...fatal, ...issues] };
  try {
    const value: unknown = doc.toJS({ maxAliasCount: DOCUMENT_LIMITS.aliases });
    return { ok: true, yaml, value, issues };
  } catch (error) {
    // yaml throws a ReferenceError when aliases expand past maxAliasCount.
    const message =
      error instanceof ReferenceError
        ? `aliases expand to too many nodes (at most ${DOCUMENT_LIMITS.aliases} alias uses)`
        : String(error);
    return { ok: false, issues: [issue('', message, at(offsetOf(doc.contents)))] };
  }
}

/** The offset of the first collection nested deeper than the limit, if any. */
function tooDeepAt(tokens: readonly CST.Token[]): number | undefined {
  const stack = tokens.map((token) => ({ token, depth: 0 }));
  for (let next = stack.pop(); next; next = stack.pop()) {
    const { token, depth } = next;
    if (token.type === 'document' && token.value) stack.push({ token: token.value, depth });
    const collection = ['block-map', 'block-seq', 'flow-collection'].includes(token.type);
    if (collection && depth >= DOCUMENT_LIMITS.depth) return token.offset;
    for (const item of 'items' in token ? token.items : []) {
      if (item.key) stack.push({ token: item.key, depth: depth + 1 });
      if (item.value) stack.push({ token: item.value, depth: depth + 1 });
    }
  }
  return undefined;
}

/**
 * What YAML allows but a ticket cannot hold. A key that is not a string, or a
 * duplicate, is reported and its entry taken out, so the rest is still checked.
 * An alias without an anchor, inside the node it names (toJS would build a
 * cycle), or nesting past the limit once expanded stops the reading.
 */
function checkNodes(yaml: YamlText): { issues: LocatedIssue[]; aliasIssues: LocatedIssue[] } {
  const issues: LocatedIssue[] = [];
  const aliasIssues: LocatedIssue[] = [];
  const at = (node: unknown) => yaml.at(offsetOf(node));
  const report = (node: unknown, path: readonly Segment[], message: string) =>
    aliasIssues.push(issue(path, message, at(node)));
  // Height of each finished node, aliases expanded; an anchored node is registered
  // on the way down, so an alias to a node still unfinished is one inside it.
  const heights = new Map<YamlNode, number>();
  const walk = (node: unknown, path: Segment[], depth: number): number => {
    if (isAlias(node)) {
      const target = yaml.anchors.get(node.source);
      const height = target ? heights.get(target) : undefined;
      const alias = `the alias *${node.source}`;
      if (!target) report(node, path, `${alias} has no anchor &${node.source} before it`);
      else if (height === undefined) report(node, path, `${alias} is inside the node it names`);
      else if (depth + height > DOCUMENT_LIMITS.depth)
        report(node, path, `${alias} nests more than ${DOCUMENT_LIMITS.depth} levels deep`);
      return height ?? 0;
    }
    if (!isNode(node)) return 0;
    if (node.anchor) yaml.anchors.set(node.anchor, node);
    let height = 0;
    if (isMap(node)) {
      const seen = new Map<string, Pair>();
      yaml.entries.set(node, seen);
      node.items = node.items.filter((pair) => {
        walk(pair.key, path, depth + 1);
        if (!isScalar(pair.key) || typeof pair.key.value !== 'string') {
          const message = `a key must be a string, not ${kindOf(pair.key)}`;
          issues.push(issue(path, message, at(pair.key ?? node)));
          return false;
        }
        const key = pair.key.value;
        const first = seen.get(key);
        if (first) {
          const message = `duplicate key ${quote(key)} (first on line ${at(first.key).line})`;
          issues.push(issue([...path, key], message, at(pair.key)));
          return false;
        }
        seen.set(key, pair);
        height = Math.max(height, walk(pair.value, [...path, key], depth + 1));
        return true;
      });
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => {
        height = Math.max(height, walk(item, [...path, i], depth + 1));
      });
    }
    const own = isCollection(node) ? height + 1 : 0;
    heights.set(node, own);
    return own;
  };
  walk(yaml.doc.contents, [], 0);
  return { issues, aliasIssues };
}

/** The offset of the deepest node on `path`: a mapping entry's key, a list item, else the parent's. */
function locate(yaml: YamlText, path: readonly Segment[]): number | undefined {
  let node: unknown = yaml.doc.contents;
  let offset = offsetOf(node);
  for (const segment of path) {
    if (isAlias(node)) node = yaml.anchors.get(node.source);
    if (isMap(node)) {
      const pair = yaml.entries.get(node)?.get(String(segment));
      if (!pair) break;
      offset = offsetOf(pair.key) ?? offset;
      node = pair.value;
    } else if (isSeq(node) && typeof segment === 'number' && segment < node.items.length) {
      node = node.items[segment];
      offset = offsetOf(node) ?? offset;
    } else break;
  }
  return offset;
}

function offsetOf(node: unknown): number | undefined {
  return isNode(node) ? node.range?.[0] : undefined;
}

/** What a YAML node is, for messages: "a list", "a number (quote it)". */
function kindOf(node: unknown): string {
  if (isMap(node)) return 'a mapping';
  if (isSeq(node)) return 'a list';
  if (isAlias(node)) return 'an alias';
  if (!isScalar(node) || node.value === null) return 'empty';
  return typeof node.value === 'string' ? 'a string' : `a ${typeof node.value} (quote it)`;
}

/** Zod's issues with their paths kept as segments; an unknown key gets its own path. */
function zodIssues(error: z.ZodError): { path: Segment[]; message: string }[] {
  return error.issues.flatMap((zodIssue) => {
    const path = zodIssue.path.map((s) => (typeof s === 'number' ? s : String(s)));
    if (zodIssue.code === 'unrecognized_keys') {
      const known = fieldsUnder(path);
      return zodIssue.keys.map((key) => ({
        path: [...path, key],
        message: unknownField(key, known),
      }));
    }
    if (zodIssue.code === 'invalid_union') return [{ path, message: unionMessage(zodIssue) }];
    return [{ path, message: zodIssue.message }];
  });
}

/** Names the types a union takes instead of zod's bare "Invalid input" (`timeout: true`). */
function unionMessage(zodIssue: z.core.$ZodIssueInvalidUnion): string {
  const expected = zodIssue.errors.map((branch) =>
    branch.length === 1 && branch[0].code === 'invalid_type' ? branch[0].expected : undefined,
  );
  const all = expected.length > 0 && expected.every((e) => e !== undefined);
  return zodIssue.message === 'Invalid input' && all
    ? `Invalid input: expected ${expected.join(' or ')}`
    : zodIssue.message;
}

function fieldsUnder(path: readonly Segment[]): readonly string[] {
  const parent = path.findLast((s) => typeof s === 'string');
  return parent === undefined ? TICKET_KEYS : (FIELDS_UNDER.get(String(parent)) ?? []);
}

function unknownField(
  key: string,
  known: readonly string[],
  hints?: ReadonlyMap<string, string>,
): string {
  const hint = hints?.get(key) ?? closest(key, known);
  return `unknown field ${quote(key)}${hint ? ` (${hint})` : ''}`;
}

/** The known field within 3 edits of `key`, when fewer edits than `key` has letters. */
function closest(key: string, known: readonly string[]): string | undefined {
  if (key.length > 64) return undefined;
  let best: string | undefined;
  let bestDistance = 4;
  for (const field of known) {
    const distance = editDistance(key, field);
    if (distance < bestDistance && distance < key.length) [best, bestDistance] = [field, distance];
  }
  return best && `did you mean "${best}"?`;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1);
      row.push(Math.min(previous[j] + 1, row[j - 1] + 1, substitution));
    }
    previous = row;
  }
  return previous[b.length];
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

/** JSON.parse's verdict: the yaml parser would also take YAML that is not JSON. */
function jsonProblem(text: string): LocatedIssue | undefined {
  try {
    JSON.parse(text);
    return undefined;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const position = /at position (\d+)/.exec(message);
    const offset = position ? Number(position[1]) : jsonErrorOffset(text);
    return issue('', `not valid JSON: ${message}`, positionIn(text, offset));
  }
}

// A JSON string or scalar at the start (sticky), without backtracking per character.
const JSON_LITERAL =
  // eslint-disable-next-line no-control-regex
  /"(?:[^"\\\x00-\x1f]+|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"|-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null/y;

/**
 * Where JSON.parse gave up, for its messages that give no position (V8 says
 * "Unexpected token ']'" for a trailing comma). A scan of the grammar, no values.
 */
function jsonErrorOffset(text: string): number {
  const closers: string[] = [];
  let want: 'value' | 'key' | 'colon' | 'comma' = 'value';
  let empty = false; // just after "[" or "{": the closer may come at once
  for (let i = 0; ;) {
    while (' \t\n\r'.includes(text[i] ?? 'x')) i++;
    if (i >= text.length) return i;
    const c = text[i];
    if (empty && c === closers.at(-1)) {
      closers.pop();
      [want, i] = ['comma', i + 1];
    } else if (want === 'comma') {
      if (c === ',' && closers.length > 0) want = closers.at(-1) === '}' ? 'key' : 'value';
      else if (closers.length === 0 || c !== closers.pop()) return i;
      i++;
    } else if (want === 'colon') {
      if (c !== ':') return i;
      [want, i] = ['value', i + 1];
    } else if (want === 'value' && (c === '[' || c === '{')) {
      closers.push(c === '[' ? ']' : '}');
      [want, i, empty] = [c === '[' ? 'value' : 'key', i + 1, true];
      continue;
    } else {
      JSON_LITERAL.lastIndex = i;
      if ((want === 'key' && c !== '"') || !JSON_LITERAL.test(text)) return i;
      [want, i] = [want === 'key' ? 'colon' : 'comma', JSON_LITERAL.lastIndex];
    }
    empty = false;
  }
}

function positionIn(text: string, offset: number): Position {
  const before = text.slice(0, offset);
  return { line: before.split('\n').length, column: offset - before.lastIndexOf('\n') };
}

function sizeProblem(text: string, limit: number, what: string): string | undefined {
  // Counting UTF-8 bytes needs an encoding; a string longer than the limit is over it anyway.
  const bytes = text.length > limit ? text.length : new TextEncoder().encode(text).length;
  if (bytes <= limit) return undefined;
  const kib = limit / 1024;
  return `${what} is larger than ${kib % 1024 === 0 ? `${kib / 1024} MiB` : `${kib} KiB`}`;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A key as a message shows it: quoted, escaped (a NUL shows as \u0000), and not too long. */
function quote(key: string): string {
  return JSON.stringify(key.length > 64 ? `${key.slice(0, 64)}...` : key);
}

function issue(path: readonly Segment[] | string, message: string, at?: Position): LocatedIssue {
  return { path: typeof path === 'string' ? path : path.join('.'), message, ...at };
}

/** Every issue once, by line (zod reports a work order's title for the ticket and its task). */
function failed(issues: readonly LocatedIssue[]): { ok: false; issues: LocatedIssue[] } {
  const seen = new Set<string>();
  const unique = issues.filter((i) => {
    const id = JSON.stringify([i.path, i.message, i.line, i.column]);
    return !seen.has(id) && Boolean(seen.add(id));
  });
  unique.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0));
  return { ok: false, issues: unique };
}
