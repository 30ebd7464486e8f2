-- Pipelines: conditions, failure policy, phases and approval gates on tasks;
-- descriptions, labels and budgets on tickets; the approvals people give.

-- CreateEnum
CREATE TYPE "OnFailure" AS ENUM ('stop', 'continue');
CREATE TYPE "ApprovalDecision" AS ENUM ('approved', 'rejected', 'expired');

-- AlterTable
ALTER TABLE "ticket" ADD COLUMN "description" TEXT,
    ADD COLUMN "labels" TEXT[] NOT NULL DEFAULT ARRAY[]::TEXT[],
    ADD COLUMN "budget_usd" DOUBLE PRECISION;

-- AlterTable
ALTER TABLE "task" ADD COLUMN "phase" TEXT,
    ADD COLUMN "when_expr" TEXT,
    ADD COLUMN "on_failure" "OnFailure" NOT NULL DEFAULT 'stop',
    ADD COLUMN "templated" BOOLEAN NOT NULL DEFAULT false,
    ADD COLUMN "requires_approval" BOOLEAN NOT NULL DEFAULT false,
    ADD COLUMN "approval_timeout_ms" INTEGER,
    ADD COLUMN "reason" TEXT;

-- CreateTable
CREATE TABLE "approval" (
    "task_id" UUID NOT NULL,
    "ticket_id" UUID NOT NULL,
    "project_id" UUID NOT NULL,
    "requested_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "due_at" TIMESTAMPTZ(3),
    "decision" "ApprovalDecision",
    "comment" TEXT,
    "decided_by" TEXT,
    "decided_by_key" UUID,
    "decided_at" TIMESTAMPTZ(3),

    CONSTRAINT "approval_pkey" PRIMARY KEY ("task_id")
);

-- CreateIndex
CREATE INDEX "approval_decision_due_at_idx" ON "approval"("decision", "due_at");

-- AddForeignKey
ALTER TABLE "approval" ADD CONSTRAINT "approval_task_id_fkey" FOREIGN KEY ("task_id") REFERENCES "task"("id") ON DELETE CASCADE ON UPDATE CASCADE;
