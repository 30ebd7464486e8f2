-- Retry and timeout policy per task, retry and deadline timers, idempotent ticket creation.

-- Tasks written before this migration get the defaults the orchestrator used to imply.
ALTER TABLE "task"
    ADD COLUMN "max_attempts" INTEGER NOT NULL DEFAULT 1,
    ADD COLUMN "timeout_ms" INTEGER NOT NULL DEFAULT 3600000,
    ADD COLUMN "backoff_base_ms" INTEGER NOT NULL DEFAULT 1000,
    ADD COLUMN "backoff_factor" DOUBLE PRECISION NOT NULL DEFAULT 2,
    ADD COLUMN "backoff_cap_ms" INTEGER NOT NULL DEFAULT 300000,
    ADD COLUMN "retry_on" "ErrorClass"[] NOT NULL DEFAULT ARRAY['RUNNER_LOST', 'INFRA', 'TIMEOUT', 'RATE_LIMITED']::"ErrorClass"[],
    ADD COLUMN "retry_at" TIMESTAMPTZ(3);

-- From now on every task states its policy.
ALTER TABLE "task"
    ALTER COLUMN "max_attempts" DROP DEFAULT,
    ALTER COLUMN "timeout_ms" DROP DEFAULT,
    ALTER COLUMN "backoff_base_ms" DROP DEFAULT,
    ALTER COLUMN "backoff_factor" DROP DEFAULT,
    ALTER COLUMN "backoff_cap_ms" DROP DEFAULT,
    ALTER COLUMN "retry_on" DROP DEFAULT;

ALTER TABLE "run" ADD COLUMN "deadline_at" TIMESTAMPTZ(3);

-- The reconciler's scans: retries due, deadlines passed.
CREATE INDEX "task_status_retry_at_idx" ON "task"("status", "retry_at");
CREATE INDEX "run_status_deadline_at_idx" ON "run"("status", "deadline_at");

-- The request that created a ticket: the same request again returns that ticket.
ALTER TABLE "ticket" ADD COLUMN "request_id" UUID, ADD COLUMN "request_hash" TEXT;
CREATE UNIQUE INDEX "ticket_request_id_key" ON "ticket"("request_id");
