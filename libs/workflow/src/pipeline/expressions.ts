/**
 * Pipeline expressions: references to upstream steps (`steps.lint.output.count`),
 * `{{ ... }}` templates in prompts and shell commands, and `when:` conditions.
 * Everything here is pure: text in, values or errors out.
 *
 * The code lives in one module per idea; this one gathers their public API by
 * name. The helpers those modules share with each other (scanning text, tokens,
 * the parser's failure) are exported from them but are not part of this API.
 */

export {
  describeRef,
  formatParseFailure,
  parseRef,
  resolveRef,
  type EvaluationFailure,
  type ParseFailure,
  type StepFacts,
  type StepRef,
} from './refs';
export {
  hasTemplates,
  parseTemplate,
  renderTemplate,
  templateRefs,
  type RenderMode,
  type TemplatePart,
} from './templates';
export type { CompareOp } from './condition-tokens';
export {
  CONDITION_LIMITS,
  conditionRefs,
  parseCondition,
  type Condition,
  type ConditionNode,
} from './conditions';
export { evaluateCondition } from './condition-evaluation';
