-- Cost and tokens per run (as the agent reports them), summed for tasks, tickets
-- and experiments, and checked against a ticket's budget.

-- AlterTable
ALTER TABLE "run" ADD COLUMN "cost_usd" DOUBLE PRECISION,
    ADD COLUMN "input_tokens" INTEGER,
    ADD COLUMN "output_tokens" INTEGER;

-- Runs recorded before: from their result.
UPDATE "run" SET
    "cost_usd" = CASE WHEN jsonb_typeof("result" -> 'costUsd') = 'number' THEN ("result" ->> 'costUsd')::double precision END,
    "input_tokens" = CASE WHEN jsonb_typeof("result" -> 'inputTokens') = 'number' THEN ("result" ->> 'inputTokens')::numeric::integer END,
    "output_tokens" = CASE WHEN jsonb_typeof("result" -> 'outputTokens') = 'number' THEN ("result" ->> 'outputTokens')::numeric::integer END
WHERE "result" IS NOT NULL;
