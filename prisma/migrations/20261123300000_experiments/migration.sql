-- Experiments: a sweep of agents x models x trials over a set of tasks, run as
-- one ticket whose tasks are the trials (and the analyses of failed ones).

-- CreateEnum
CREATE TYPE "TrialRole" AS ENUM ('trial', 'analysis');

-- CreateTable
CREATE TABLE "experiment" (
    "id" UUID NOT NULL,
    "project_id" UUID NOT NULL,
    "ticket_id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "agents" TEXT[] NOT NULL,
    "models" TEXT[] NOT NULL,
    "n_trials" INTEGER NOT NULL,
    "analysis" JSONB,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "experiment_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "trial" (
    "task_id" UUID NOT NULL,
    "experiment_id" UUID NOT NULL,
    "task_name" TEXT NOT NULL,
    "agent" TEXT NOT NULL,
    "model" TEXT,
    "trial" INTEGER NOT NULL,
    "role" "TrialRole" NOT NULL,

    CONSTRAINT "trial_pkey" PRIMARY KEY ("task_id")
);

-- CreateIndex
CREATE UNIQUE INDEX "experiment_ticket_id_key" ON "experiment"("ticket_id");
CREATE UNIQUE INDEX "experiment_project_id_name_key" ON "experiment"("project_id", "name");
CREATE INDEX "experiment_project_id_created_at_idx" ON "experiment"("project_id", "created_at");
CREATE INDEX "trial_experiment_id_idx" ON "trial"("experiment_id");

-- AddForeignKey
ALTER TABLE "experiment" ADD CONSTRAINT "experiment_project_id_fkey" FOREIGN KEY ("project_id") REFERENCES "project"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
ALTER TABLE "experiment" ADD CONSTRAINT "experiment_ticket_id_fkey" FOREIGN KEY ("ticket_id") REFERENCES "ticket"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "trial" ADD CONSTRAINT "trial_task_id_fkey" FOREIGN KEY ("task_id") REFERENCES "task"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "trial" ADD CONSTRAINT "trial_experiment_id_fkey" FOREIGN KEY ("experiment_id") REFERENCES "experiment"("id") ON DELETE CASCADE ON UPDATE CASCADE;
