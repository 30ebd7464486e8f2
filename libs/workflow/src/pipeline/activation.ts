import type { OnFailure, TaskSpec, TaskStatus } from '@drover/contracts';
import type { Tx } from '@drover/db';
import type { OutboxMessage } from '@drover/events';
import { taskChanged } from '../outbox-messages';
import type { Effects } from '../use-cases/report-use-case';
import {
  evaluateCondition,
  parseCondition,
  parseTemplate,
  renderTemplate,
  type StepFacts,
  type StepRef,
} from './expressions';
import { templatesOf, withTemplates, type SpecTemplates } from './spec-templates';

/** A PENDING task whose dependencies have all ended well, and what decides its next status. */
export interface GatedTask {
  id: string;
  ticket_id: string;
  key: string;
  when_expr: string | null;
  templated: boolean;
  requires_approval: boolean;
  approval_timeout_ms: number | null;
  on_failure: OnFailure;
  spec: TaskSpec;
  /** Its templated texts as submitted; null until its first release (the spec holds them). */
  spec_templates: SpecTemplates | null;
}

/** Where a gated task goes: on to run (READY, AWAITING_APPROVAL), or to an end without a run. */
export interface Activation {
  task: GatedTask;
  status: Extract<TaskStatus, 'READY' | 'AWAITING_APPROVAL' | 'SKIPPED' | 'FAILED'>;
  reason: string | null;
}

/** Every ref the task's condition and templates make, or the first one that does not parse. */
function refsOf(task: GatedTask): StepRef[] {
  const refs: StepRef[] = [];
  if (task.when_expr) {
    const parsed = parseCondition(task.when_expr);
    if (parsed.ok) refs.push(...parsed.condition.refs);
  }
  if (task.templated) {
    for (const text of templatedTexts(task.spec)) {
      const parsed = parseTemplate(text);
      if (parsed.ok) refs.push(...parsed.parts.filter((p): p is StepRef => typeof p !== 'string'));
    }
  }
  return refs;
}

function templatedTexts(spec: TaskSpec): string[] {
  return [
    ...(spec.prompt ? [spec.prompt] : []),
    ...(spec.solution ? [spec.solution] : []),
    ...(spec.steps ?? []).map((s) => s.run),
    ...spec.acceptance_commands,
  ];
}

/**
 * The upstream steps a task refers to: status, the output its latest run wrote
 * (the JSON object a run leaves in `result.output`) and that run's error (or why
 * the step ended without one).
 */
async function loadFacts(tx: Tx, ticketId: string, keys: readonly string[]): Promise<StepFacts> {
  if (!keys.length) return new Map();
  const rows = await tx.$queryRaw<
    { key: string; status: string; output: unknown; error: string | null }[]
  >`
    SELECT t.key, t.status::text AS status, r.result -> 'output' AS output,
           COALESCE(r.error_message, t.reason) AS error
    FROM task t
    LEFT JOIN LATERAL (SELECT result, error_message FROM run WHERE task_id = t.id
                       ORDER BY attempt DESC LIMIT 1) r ON true
    WHERE t.ticket_id = ${ticketId}::uuid AND t.key = ANY(${[...new Set(keys)]}::text[])`;
  return new Map(
    rows.map((r) => [
      r.key,
      {
        status: r.status,
        error: r.error,
        output:
          typeof r.output === 'object' && r.output !== null && !Array.isArray(r.output)
            ? (r.output as Record<string, unknown>)
            : null,
      },
    ]),
  );
}

/**
 * The spec with each template rendered: a prompt gets the values as text; a
 * command gets a variable reference, the value going into `template_env`.
 */
function renderSpec(
  spec: TaskSpec,
  facts: StepFacts,
): { ok: true; spec: TaskSpec } | { ok: false; message: string } {
  const bindings = new Map<string, string>();
  let failed: string | undefined;
  const render = (text: string, mode: 'text' | 'shell', field: string): string => {
    if (failed) return text;
    const parsed = parseTemplate(text);
    if (!parsed.ok) {
      failed = `${field}: at ${parsed.index}: ${parsed.message}`;
      return text;
    }
    const rendered = renderTemplate(parsed.parts, facts, mode, bindings);
    if (!rendered.ok) {
      failed = `${field}: ${rendered.message}`;
      return text;
    }
    return rendered.text;
  };
  const out: TaskSpec = {
    ...spec,
    ...(spec.prompt ? { prompt: render(spec.prompt, 'text', 'prompt') } : {}),
    ...(spec.solution ? { solution: render(spec.solution, 'shell', 'solution') } : {}),
    ...(spec.steps
      ? {
          steps: spec.steps.map((s, i) => ({
            ...s,
            run: render(s.run, 'shell', `steps.${i}.run`),
          })),
        }
      : {}),
    acceptance_commands: spec.acceptance_commands.map((c, i) =>
      render(c, 'shell', `acceptance_commands.${i}`),
    ),
  };
  if (failed) return { ok: false, message: failed };
  if (bindings.size) out.template_env = Object.fromEntries(bindings);
  return { ok: true, spec: out };
}

/**
 * Decides and writes where a gated task goes now that its dependencies have
 * ended well: SKIPPED when its condition is false; FAILED when its condition or
 * a template cannot be evaluated (a missing output field, a skipped upstream);
 * else with its templates rendered into its spec, AWAITING_APPROVAL when it
 * needs a person's approval (its approval opened, a timer set for its
 * timeout), READY otherwise. The task row must be locked by the caller.
 */
export async function activate(
  tx: Tx,
  gated: GatedTask,
  events: OutboxMessage[],
  effects?: Effects,
): Promise<Activation> {
  // Rendered from the texts as submitted, never from an earlier rendering: a rerun
  // releases the task again after its dependencies left new outputs.
  const templates = gated.templated ? (gated.spec_templates ?? templatesOf(gated.spec)) : null;
  const task = templates ? { ...gated, spec: withTemplates(gated.spec, templates) } : gated;
  const from = task.spec.workspace_from;
  const facts = await loadFacts(tx, task.ticket_id, [
    ...refsOf(task).map((r) => r.step),
    ...(from ? [from] : []),
  ]);
  const workspace = from ? await workspaceOf(tx, task.ticket_id, from, facts) : undefined;
  const decided =
    workspace && !workspace.ok
      ? { status: 'FAILED' as const, reason: workspace.message }
      : decide(task, facts, workspace?.runId);
  const { status, reason } = decided;
  const terminal = status === 'SKIPPED' || status === 'FAILED';
  const spec = decided.spec ? JSON.stringify(decided.spec) : null;
  await tx.$executeRaw`
    UPDATE task SET status = ${status}::"TaskStatus", reason = ${reason},
                    spec = COALESCE(${spec}::jsonb, spec),
                    spec_templates = COALESCE(spec_templates, ${templates ? JSON.stringify(templates) : null}::jsonb),
                    ready_at = CASE WHEN ${status} = 'READY' THEN now() ELSE ready_at END,
                    finished_at = CASE WHEN ${terminal} THEN now() ELSE finished_at END,
                    updated_at = now()
    WHERE id = ${task.id}::uuid`;
  if (status === 'AWAITING_APPROVAL') {
    const dueAt =
      task.approval_timeout_ms === null ? null : new Date(Date.now() + task.approval_timeout_ms);
    // A rerun gates the task again: the earlier decision does not carry over (it stays in the
    // task's event history), so a rejection cannot be bypassed by rerunning.
    await tx.$executeRaw`
      INSERT INTO approval (task_id, ticket_id, project_id, due_at)
      SELECT id, ticket_id, project_id, ${dueAt} FROM task WHERE id = ${task.id}::uuid
      ON CONFLICT (task_id) DO UPDATE SET
        requested_at = now(), due_at = EXCLUDED.due_at, decision = NULL, comment = NULL,
        decided_by = NULL, decided_by_key = NULL, decided_at = NULL`;
    if (dueAt) {
      effects?.timers.push({
        kind: 'approval',
        id: task.id,
        attempt: 1,
        dueAt: dueAt.toISOString(),
      });
    }
  }
  events.push(
    taskChanged({ id: task.id, ticketId: task.ticket_id, key: task.key }, status, 'PENDING', {
      reason: reason ?? undefined,
    }),
  );
  return { task: gated, status, reason };
}

/** The run whose workspace a task starts from: the upstream step's latest. */
async function workspaceOf(
  tx: Tx,
  ticketId: string,
  key: string,
  facts: StepFacts,
): Promise<{ ok: true; runId: string } | { ok: false; message: string }> {
  const [run] = await tx.$queryRaw<{ id: string }[]>`
    SELECT r.id FROM run r JOIN task t ON t.id = r.task_id
    WHERE t.ticket_id = ${ticketId}::uuid AND t.key = ${key}
    ORDER BY r.attempt DESC LIMIT 1`;
  if (run) return { ok: true, runId: run.id };
  const status = facts.get(key)?.status ?? 'without running';
  return {
    ok: false,
    message: `workspace_from: steps.${key} left no workspace (it ended ${status})`,
  };
}

function decide(
  task: GatedTask,
  facts: StepFacts,
  workspaceRun?: string,
): { status: Activation['status']; reason: string | null; spec?: TaskSpec } {
  if (task.when_expr) {
    const parsed = parseCondition(task.when_expr);
    if (!parsed.ok) {
      return { status: 'FAILED', reason: `when: at ${parsed.index}: ${parsed.message}` };
    }
    const value = evaluateCondition(parsed.condition, facts);
    if (!value.ok) return { status: 'FAILED', reason: `when: ${value.message}` };
    if (!value.value) return { status: 'SKIPPED', reason: `when was false: ${task.when_expr}` };
  }
  let spec: TaskSpec | undefined;
  if (task.templated) {
    const rendered = renderSpec(task.spec, facts);
    if (!rendered.ok) return { status: 'FAILED', reason: rendered.message };
    spec = workspaceRun ? { ...rendered.spec, workspace_run: workspaceRun } : rendered.spec;
  }
  if (task.requires_approval) {
    return { status: 'AWAITING_APPROVAL', reason: 'waiting for approval', spec };
  }
  return { status: 'READY', reason: null, spec };
}
