-- Requests for input: a run may end asking a person for a value; the task waits
-- AWAITING_INPUT until it is answered, then runs again with it.

-- AlterEnum
ALTER TYPE "RunStatus" ADD VALUE 'NEEDS_INPUT';

-- CreateTable
CREATE TABLE "input_request" (
    "id" UUID NOT NULL,
    "task_id" UUID NOT NULL,
    "run_id" UUID,
    "name" TEXT NOT NULL,
    "prompt" TEXT NOT NULL,
    "secret" BOOLEAN NOT NULL DEFAULT false,
    "choices" TEXT[] NOT NULL DEFAULT ARRAY[]::TEXT[],
    "requested_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "value" TEXT,
    "answered_by" TEXT,
    "answered_by_key" UUID,
    "answered_at" TIMESTAMPTZ(3),

    CONSTRAINT "input_request_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "input_request_task_id_requested_at_idx" ON "input_request"("task_id", "requested_at");

-- AddForeignKey
ALTER TABLE "input_request" ADD CONSTRAINT "input_request_task_id_fkey" FOREIGN KEY ("task_id") REFERENCES "task"("id") ON DELETE CASCADE ON UPDATE CASCADE;
