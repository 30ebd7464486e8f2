-- A rerun grants a final task its policy's attempts again: keep how many that was
-- (max_attempts grows when a run asks for input, and with each rerun).

-- AlterTable
ALTER TABLE "task" ADD COLUMN "attempt_budget" INTEGER;
UPDATE "task" SET "attempt_budget" = "max_attempts";
