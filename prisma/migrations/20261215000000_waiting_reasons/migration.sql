-- No silent waiting: why no runner can take a task (none online, none in its
-- pool, none with its image), set from the runner registry; and the images each
-- runner's engine has.

-- CreateEnum
CREATE TYPE "WaitingReason" AS ENUM ('NO_RUNNER_ONLINE', 'NO_RUNNER_IN_POOL', 'NO_RUNNER_WITH_IMAGE');

-- AlterTable
ALTER TABLE "task" ADD COLUMN "waiting_reason" "WaitingReason",
    ADD COLUMN "waiting_since" TIMESTAMPTZ(3);

-- AlterTable
ALTER TABLE "runner" ADD COLUMN "images" JSONB;
