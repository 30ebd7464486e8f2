-- Projects own API keys and quotas; the event log records whose stream shows each event.

-- CreateEnum
CREATE TYPE "KeyRole" AS ENUM ('admin', 'member', 'viewer');

-- Quotas per project (null: the configured default).
ALTER TABLE "project" ADD COLUMN "max_running_tasks" INTEGER, ADD COLUMN "max_tasks_per_hour" INTEGER;

-- CreateTable
CREATE TABLE "api_key" (
    "id" UUID NOT NULL,
    "project_id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "role" "KeyRole" NOT NULL,
    "prefix" TEXT NOT NULL,
    "hash" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expires_at" TIMESTAMPTZ(3),
    "revoked_at" TIMESTAMPTZ(3),
    "created_by" UUID,

    CONSTRAINT "api_key_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "api_key_prefix_key" ON "api_key"("prefix");
CREATE INDEX "api_key_project_id_idx" ON "api_key"("project_id");

-- AddForeignKey
ALTER TABLE "api_key" ADD CONSTRAINT "api_key_project_id_fkey" FOREIGN KEY ("project_id") REFERENCES "project"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- The per-hour submission quota counts a project's recent tasks.
CREATE INDEX "task_project_id_created_at_idx" ON "task"("project_id", "created_at");

-- Events of a ticket carry its project, so the stream shows each caller only its own.
ALTER TABLE "event" ADD COLUMN "project_id" UUID;
UPDATE "event" e SET "project_id" = t."project_id" FROM "ticket" t WHERE t."id" = e."ticket_id";
