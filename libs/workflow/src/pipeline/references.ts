import type { Issue } from '@drover/contracts';
import {
  formatParseFailure,
  hasTemplates,
  parseCondition,
  templateRefs,
  type ParseFailure,
  type StepRef,
} from './expressions';

/** The fields of a submitted task that conditions and templates live in. */
export interface PipelineTask {
  key: string;
  depends_on: readonly string[];
  when?: string;
  prompt?: string;
  solution?: string;
  steps?: readonly { run: string }[];
  acceptance_commands?: readonly string[];
}

/** One text of a task that may hold templates, with its path in the submission. */
interface TemplateField {
  path: string;
  text: string;
}

/** What one field of one task reads, or why it does not parse. */
type FieldRefs = { task: number; path: string } & (
  { ok: true; refs: readonly StepRef[] } | ParseFailure
);

function templateFields(task: PipelineTask, i: number): TemplateField[] {
  const at = `tasks.${i}`;
  const fields: TemplateField[] = [];
  if (task.prompt !== undefined) fields.push({ path: `${at}.prompt`, text: task.prompt });
  if (task.solution !== undefined) fields.push({ path: `${at}.solution`, text: task.solution });
  for (const [j, step] of (task.steps ?? []).entries()) {
    fields.push({ path: `${at}.steps.${j}.run`, text: step.run });
  }
  for (const [j, command] of (task.acceptance_commands ?? []).entries()) {
    fields.push({ path: `${at}.acceptance_commands.${j}`, text: command });
  }
  return fields;
}

/** True when a task has a condition or a template, so needs facts about upstream steps. */
export function usesPipelineFeatures(task: PipelineTask): boolean {
  return task.when !== undefined || templateFields(task, 0).some((f) => hasTemplates(f.text));
}

/** Every field of every task that reads upstream steps, in submission order. */
function readFields(tasks: readonly PipelineTask[]): FieldRefs[] {
  const read: FieldRefs[] = [];
  for (const [i, task] of tasks.entries()) {
    if (task.when !== undefined) {
      const parsed = parseCondition(task.when);
      const path = `tasks.${i}.when`;
      read.push(
        parsed.ok
          ? { task: i, path, ok: true, refs: parsed.condition.refs }
          : { task: i, path, ...parsed },
      );
    }
    for (const field of templateFields(task, i)) {
      // Most texts have no template: skip them without parsing.
      if (!hasTemplates(field.text)) continue;
      read.push({ task: i, path: field.path, ...templateRefs(field.text) });
    }
  }
  return read;
}

/**
 * Answers "is step `key` upstream of task `i`" for the keys that are referenced.
 * Each task's ancestry is a bitset over those keys alone (usually a handful), built
 * iteratively from its dependencies' and memoized, and only for tasks that are
 * asked about and their ancestors: O((tasks + edges) x referenced keys / 32).
 */
function upstreamOracle(
  tasks: readonly PipelineTask[],
  keys: readonly string[],
): (task: number, key: string) => boolean {
  const indexOf = new Map(tasks.map((t, i) => [t.key, i]));
  const bitOf = new Map(keys.map((key, bit) => [key, bit]));
  const words = Math.max(1, Math.ceil(keys.length / 32));
  const expanded = new Set<number>();
  const ancestry = new Map<number, Uint32Array>();
  const depsOf = (i: number) =>
    tasks[i].depends_on.flatMap((key) => {
      const dep = indexOf.get(key);
      return dep === undefined ? [] : [dep];
    });

  const combine = (i: number): Uint32Array => {
    const bits = new Uint32Array(words);
    for (const dep of depsOf(i)) {
      const inherited = ancestry.get(dep);
      if (inherited) for (let w = 0; w < words; w++) bits[w] |= inherited[w];
      const bit = bitOf.get(tasks[dep].key);
      if (bit !== undefined) bits[bit >>> 5] |= 1 << (bit & 31);
    }
    return bits;
  };

  // Post-order walk with an explicit stack: a 10,000-task chain needs no recursion.
  const ancestryOf = (start: number): Uint32Array => {
    const stack = [start];
    while (stack.length) {
      const top = stack[stack.length - 1];
      if (ancestry.has(top)) {
        stack.pop();
      } else if (expanded.has(top)) {
        ancestry.set(top, combine(top));
        stack.pop();
      } else {
        expanded.add(top);
        // An expanded dependency that is not done would be a cycle; it is not followed.
        for (const dep of depsOf(top)) if (!expanded.has(dep)) stack.push(dep);
      }
    }
    return ancestry.get(start) ?? new Uint32Array(words);
  };

  return (task, key) => {
    const bit = bitOf.get(key);
    if (bit === undefined) return false;
    return (ancestryOf(task)[bit >>> 5] & (1 << (bit & 31))) !== 0;
  };
}

/** Why `ref` may not be read by `task`, or undefined when it may. */
function refProblem(
  task: PipelineTask,
  index: number,
  step: string,
  known: ReadonlySet<string>,
  isUpstream: (task: number, key: string) => boolean,
): string | undefined {
  if (!known.has(step)) return `no step ${JSON.stringify(step)} in this ticket`;
  const name = JSON.stringify(task.key);
  if (step === task.key) {
    return `steps.${step} is ${name} itself: a task can only read the steps it depends on`;
  }
  if (isUpstream(index, step)) return undefined;
  return `steps.${step} is not upstream of ${name}: add it to depends_on (directly or through another step)`;
}

/**
 * Submission-time checks of every `when:` and template: each parses, and each
 * reference names a step the task depends on, directly or transitively, so its
 * facts are known when the task is gated. Assumes the graph itself is valid.
 * One issue per field and step, in submission order.
 */
export function checkPipelineReferences(tasks: readonly PipelineTask[]): Issue[] {
  const read = readFields(tasks);
  if (!read.length) return [];
  const known = new Set(tasks.map((t) => t.key));
  const referenced = new Set(read.flatMap((f) => (f.ok ? f.refs.map((r) => r.step) : [])));
  const isUpstream = upstreamOracle(
    tasks,
    [...referenced].filter((key) => known.has(key)),
  );
  const issues: Issue[] = [];
  for (const field of read) {
    if (!field.ok) {
      issues.push({ path: field.path, message: formatParseFailure(field) });
      continue;
    }
    for (const step of new Set(field.refs.map((r) => r.step))) {
      const problem = refProblem(tasks[field.task], field.task, step, known, isUpstream);
      if (problem) issues.push({ path: field.path, message: problem });
    }
  }
  return issues;
}
