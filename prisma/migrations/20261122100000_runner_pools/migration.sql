-- Runner pools: a project may own its runners; a runner may serve one project's pool.

-- AlterTable
ALTER TABLE "project" ADD COLUMN     "own_runners" BOOLEAN NOT NULL DEFAULT false;

-- AlterTable
ALTER TABLE "runner" ADD COLUMN     "project_id" UUID;
