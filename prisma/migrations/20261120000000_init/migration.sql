-- CreateEnum
CREATE TYPE "TicketStatus" AS ENUM ('PENDING', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED');

-- CreateEnum
CREATE TYPE "TaskStatus" AS ENUM ('PENDING', 'READY', 'DISPATCHED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'CANCELLED', 'RETRY_WAIT', 'BLOCKED', 'AWAITING_APPROVAL', 'AWAITING_INPUT', 'SKIPPED');

-- CreateEnum
CREATE TYPE "RunStatus" AS ENUM ('DISPATCHED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'CANCELLED');

-- CreateEnum
CREATE TYPE "ErrorClass" AS ENUM ('RUNNER_LOST', 'INFRA', 'TIMEOUT', 'RATE_LIMITED', 'AGENT_FAILED', 'ACCEPTANCE_FAILED', 'INVALID_SPEC', 'POLICY_VIOLATION', 'CANCELLED');

-- CreateEnum
CREATE TYPE "RunnerStatus" AS ENUM ('ONLINE', 'STALE', 'OFFLINE');

-- CreateTable
CREATE TABLE "project" (
    "id" UUID NOT NULL,
    "slug" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "project_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "ticket" (
    "id" UUID NOT NULL,
    "project_id" UUID NOT NULL,
    "title" TEXT NOT NULL,
    "status" "TicketStatus" NOT NULL DEFAULT 'PENDING',
    "priority" INTEGER NOT NULL DEFAULT 0,
    "open_tasks" INTEGER NOT NULL DEFAULT 0,
    "traceparent" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "finished_at" TIMESTAMPTZ(3),

    CONSTRAINT "ticket_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "task" (
    "id" UUID NOT NULL,
    "ticket_id" UUID NOT NULL,
    "project_id" UUID NOT NULL,
    "key" TEXT NOT NULL,
    "position" INTEGER NOT NULL,
    "title" TEXT,
    "status" "TaskStatus" NOT NULL DEFAULT 'PENDING',
    "priority" INTEGER NOT NULL DEFAULT 0,
    "agent" TEXT NOT NULL,
    "provider" TEXT NOT NULL,
    "spec" JSONB NOT NULL,
    "attempt" INTEGER NOT NULL DEFAULT 0,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "ready_at" TIMESTAMPTZ(3),
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "finished_at" TIMESTAMPTZ(3),

    CONSTRAINT "task_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "task_dependency" (
    "task_id" UUID NOT NULL,
    "depends_on_id" UUID NOT NULL,
    "ticket_id" UUID NOT NULL,

    CONSTRAINT "task_dependency_pkey" PRIMARY KEY ("task_id","depends_on_id")
);

-- CreateTable
CREATE TABLE "run" (
    "id" UUID NOT NULL,
    "task_id" UUID NOT NULL,
    "ticket_id" UUID NOT NULL,
    "project_id" UUID NOT NULL,
    "attempt" INTEGER NOT NULL,
    "status" "RunStatus" NOT NULL DEFAULT 'DISPATCHED',
    "lease_token" UUID NOT NULL,
    "lease_expires_at" TIMESTAMPTZ(3),
    "runner_id" TEXT,
    "dispatched_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "started_at" TIMESTAMPTZ(3),
    "finished_at" TIMESTAMPTZ(3),
    "exit_code" INTEGER,
    "error_class" "ErrorClass",
    "error_message" TEXT,
    "result" JSONB,
    "log_lines" INTEGER NOT NULL DEFAULT 0,

    CONSTRAINT "run_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "log_chunk" (
    "id" BIGSERIAL NOT NULL,
    "run_id" UUID NOT NULL,
    "first_line" INTEGER NOT NULL,
    "line_count" INTEGER NOT NULL,
    "lines" JSONB NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "log_chunk_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "runner" (
    "id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "capabilities" JSONB NOT NULL DEFAULT '[]',
    "slots" INTEGER NOT NULL,
    "free_slots" INTEGER NOT NULL,
    "heartbeat_interval_ms" INTEGER NOT NULL,
    "status" "RunnerStatus" NOT NULL DEFAULT 'ONLINE',
    "registered_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "last_heartbeat_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "runner_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "event" (
    "id" BIGSERIAL NOT NULL,
    "message_id" UUID NOT NULL,
    "seq" BIGINT,
    "subject" TEXT NOT NULL,
    "ticket_id" UUID,
    "internal" BOOLEAN NOT NULL DEFAULT false,
    "data" JSONB NOT NULL,
    "correlation_id" TEXT NOT NULL,
    "traceparent" TEXT,
    "occurred_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "published_at" TIMESTAMPTZ(3),

    CONSTRAINT "event_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "project_slug_key" ON "project"("slug");

-- CreateIndex
CREATE INDEX "ticket_project_id_status_created_at_idx" ON "ticket"("project_id", "status", "created_at");

-- CreateIndex
CREATE INDEX "ticket_created_at_idx" ON "ticket"("created_at");

-- CreateIndex
CREATE INDEX "task_status_provider_priority_ready_at_idx" ON "task"("status", "provider", "priority" DESC, "ready_at");

-- CreateIndex
CREATE UNIQUE INDEX "task_ticket_id_key_key" ON "task"("ticket_id", "key");

-- CreateIndex
CREATE INDEX "task_dependency_depends_on_id_idx" ON "task_dependency"("depends_on_id");

-- CreateIndex
CREATE INDEX "run_status_lease_expires_at_idx" ON "run"("status", "lease_expires_at");

-- CreateIndex
CREATE INDEX "run_runner_id_idx" ON "run"("runner_id");

-- CreateIndex
CREATE UNIQUE INDEX "run_task_id_attempt_key" ON "run"("task_id", "attempt");

-- CreateIndex
CREATE UNIQUE INDEX "log_chunk_run_id_first_line_key" ON "log_chunk"("run_id", "first_line");

-- CreateIndex
CREATE INDEX "runner_status_last_heartbeat_at_idx" ON "runner"("status", "last_heartbeat_at");

-- CreateIndex
CREATE UNIQUE INDEX "event_message_id_key" ON "event"("message_id");

-- CreateIndex
CREATE UNIQUE INDEX "event_seq_key" ON "event"("seq");

-- CreateIndex
CREATE INDEX "event_ticket_id_seq_idx" ON "event"("ticket_id", "seq");

-- CreateIndex
CREATE INDEX "event_published_at_seq_idx" ON "event"("published_at", "seq");

-- AddForeignKey
ALTER TABLE "ticket" ADD CONSTRAINT "ticket_project_id_fkey" FOREIGN KEY ("project_id") REFERENCES "project"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "task" ADD CONSTRAINT "task_ticket_id_fkey" FOREIGN KEY ("ticket_id") REFERENCES "ticket"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "task" ADD CONSTRAINT "task_project_id_fkey" FOREIGN KEY ("project_id") REFERENCES "project"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "task_dependency" ADD CONSTRAINT "task_dependency_task_id_fkey" FOREIGN KEY ("task_id") REFERENCES "task"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "task_dependency" ADD CONSTRAINT "task_dependency_depends_on_id_fkey" FOREIGN KEY ("depends_on_id") REFERENCES "task"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "run" ADD CONSTRAINT "run_task_id_fkey" FOREIGN KEY ("task_id") REFERENCES "task"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "log_chunk" ADD CONSTRAINT "log_chunk_run_id_fkey" FOREIGN KEY ("run_id") REFERENCES "run"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- The project every ticket without one belongs to.
INSERT INTO "project" ("id", "slug", "name") VALUES ('00000000-0000-4000-8000-000000000001', 'default', 'Default project');
