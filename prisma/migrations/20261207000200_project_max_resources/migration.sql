-- A project's own ceilings of its tasks' resources (memory_mb, cpus, pids,
-- tmpfs_mb, disk_mb), checked at submission under the orchestrator's.

-- AlterTable
ALTER TABLE "project" ADD COLUMN "max_resources" JSONB;
