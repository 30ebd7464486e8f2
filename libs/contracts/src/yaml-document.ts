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
import { issue, quote, type LocatedIssue, type Position, type Segment } from './located-issue';

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

export function sizeProblem(text: string, limit: number, what: string): string | undefined {
  // Counting UTF-8 bytes needs an encoding; a string longer than the limit is over it anyway.
  const bytes = text.length > limit ? text.length : new TextEncoder().encode(text).length;
  if (bytes <= limit) return undefined;
  const kib = limit / 1024;
  return `${what} is larger than ${kib % 1024 === 0 ? `${kib / 1024} MiB` : `${kib} KiB`}`;
}

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

export interface YamlText {
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

/**
 * YAML as plain data, or every problem with it. Nesting is measured on the
 * parser's tokens (an iterative pass) before the recursive composer sees them.
 */
export function readYaml(text: string, firstLine: number): YamlRead {
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
export function locate(yaml: YamlText, path: readonly Segment[]): number | undefined {
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

export function offsetOf(node: unknown): number | undefined {
  return isNode(node) ? node.range?.[0] : undefined;
}

/** What a YAML node is, for messages: "a list", "a number (quote it)". */
export function kindOf(node: unknown): string {
  if (isMap(node)) return 'a mapping';
  if (isSeq(node)) return 'a list';
  if (isAlias(node)) return 'an alias';
  if (!isScalar(node) || node.value === null) return 'empty';
  return typeof node.value === 'string' ? 'a string' : `a ${typeof node.value} (quote it)`;
}
