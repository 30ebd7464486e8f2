/**
 * The sandbox image the Jest global setup built on the test engine (busybox, a
 * user `sandbox` of uid 1000, the fake agent CLIs, node for the egress forwarder). Its tag names its recipe in
 * tools/lib/engine.mjs, so tests take it from here rather than spell it out.
 */
export function sandboxTestImage(): string {
  const image = process.env.DROVER_TEST_SANDBOX_IMAGE;
  if (!image) {
    throw new Error(
      'DROVER_TEST_SANDBOX_IMAGE is not set: run the tests through Jest (its global setup builds the image)',
    );
  }
  return image;
}

/**
 * The agent image of the current recipe (tools/agent-image: Debian, Node.js 22,
 * the real agent CLIs), which the Jest global setup builds on the test engine
 * where it is missing and tags by the recipe's hash.
 */
export function agentImage(): string {
  const image = process.env.DROVER_TEST_AGENT_IMAGE;
  if (!image) {
    throw new Error(
      'DROVER_TEST_AGENT_IMAGE is empty: the Jest global setup could not build the agent image (see its output above; `npm run sandbox:build` builds it alone), or the tests did not run through Jest',
    );
  }
  return image;
}
