/** How the API shows a secret env value: that there is one, never its value or ciphertext. */
export const MASKED_SECRET = { secret: true } as const;

type JsonObject = Record<string, unknown>;

const isObject = (value: unknown): value is JsonObject =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Every value that is not plain text (a sealed secret, or anything unexpected) is masked. */
function maskEnv(env: JsonObject): JsonObject {
  return Object.fromEntries(
    Object.entries(env).map(([name, value]) => [
      name,
      typeof value === 'string' ? value : MASKED_SECRET,
    ]),
  );
}

/**
 * A task's stored spec as the API may show it: each secret env value, the task's
 * own or a step's, becomes `{ "secret": true }`; the rest is unchanged. It reads
 * the spec as untrusted JSON, so a value of any shape but text is masked.
 */
export function maskSpec<T>(spec: T): T {
  if (!isObject(spec)) return spec;
  const masked: JsonObject = { ...spec };
  if (isObject(spec.env)) masked.env = maskEnv(spec.env);
  if (Array.isArray(spec.steps)) {
    masked.steps = spec.steps.map((step: unknown) =>
      isObject(step) && isObject(step.env) ? { ...step, env: maskEnv(step.env) } : step,
    );
  }
  // The same JSON shape, with secret values replaced.
  return masked as T;
}
