/**
 * Deciding a parsed `when:` condition over the facts of finished steps: strict
 * booleans (no truthiness), JSON equality, and order only within numbers or strings.
 */

import { clip, ExpressionFailure, type CompareOp } from './condition-tokens';
import type { Condition, ConditionNode } from './conditions';
import { resolveRef, typeName, withArticle, type EvaluationFailure, type StepFacts } from './refs';

type Evaluation = { readonly source: string; readonly facts: StepFacts };

function sourceOf(node: ConditionNode, e: Evaluation): string {
  return clip(e.source.slice(node.start, node.end));
}

function valueOf(node: ConditionNode, e: Evaluation): unknown {
  switch (node.type) {
    case 'literal':
      return node.value;
    case 'ref': {
      const resolved = resolveRef(node.ref, e.facts);
      if (!resolved.ok) throw new ExpressionFailure(node.start, resolved.message);
      return resolved.value;
    }
    case 'not':
      return !truthOf(node.operand, e);
    // `&&` and `||` short-circuit: the right side is not resolved when it cannot matter.
    case 'and':
      return truthOf(node.left, e) && truthOf(node.right, e);
    case 'or':
      return truthOf(node.left, e) || truthOf(node.right, e);
    case 'compare':
      return compare(node.op, valueOf(node.left, e), valueOf(node.right, e), sourceOf(node, e));
  }
}

/** A node's value when it must be a boolean: there is no truthiness. */
function truthOf(node: ConditionNode, e: Evaluation): boolean {
  const value = valueOf(node, e);
  if (typeof value === 'boolean') return value;
  const what = withArticle(typeName(value));
  throw new ExpressionFailure(
    node.start,
    `${JSON.stringify(sourceOf(node, e))} is ${what}, not true or false`,
  );
}

/** Strict equality of JSON values; arrays and objects are equal when their JSON text is. */
function jsonEqual(left: unknown, right: unknown): boolean {
  if (typeof left === 'object' && typeof right === 'object' && left !== null && right !== null) {
    return JSON.stringify(left) === JSON.stringify(right);
  }
  return left === right;
}

/** -1, 0 or 1; only numbers with numbers and strings with strings have an order. */
function orderOf(left: unknown, right: unknown): number | undefined {
  const numbers = typeof left === 'number' && typeof right === 'number';
  const strings = typeof left === 'string' && typeof right === 'string';
  if (!numbers && !strings) return undefined;
  return left < right ? -1 : left > right ? 1 : 0;
}

function compare(op: CompareOp, left: unknown, right: unknown, source: string): boolean {
  if (op === '==') return jsonEqual(left, right);
  if (op === '!=') return !jsonEqual(left, right);
  const order = orderOf(left, right);
  if (order === undefined) {
    const types = `${typeName(left)} with ${typeName(right)}`;
    throw new ExpressionFailure(0, `cannot compare ${types} in ${source}`);
  }
  switch (op) {
    case '<':
      return order < 0;
    case '<=':
      return order <= 0;
    case '>':
      return order > 0;
    case '>=':
      return order >= 0;
  }
}

/** Decides a parsed condition over the facts of finished steps. */
export function evaluateCondition(
  condition: Condition,
  facts: StepFacts,
): { ok: true; value: boolean } | EvaluationFailure {
  try {
    return { ok: true, value: truthOf(condition.ast, { source: condition.source, facts }) };
  } catch (error) {
    if (!(error instanceof ExpressionFailure)) throw error;
    return { ok: false, message: error.message };
  }
}
