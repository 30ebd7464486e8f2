-- A templated task keeps the texts its templates were written in, so that a rerun
-- renders them again from the outputs its dependencies leave this time (the spec
-- holds the rendering of the last release). NULL until the task's first release:
-- the spec still holds the templates then.

-- AlterTable
ALTER TABLE "task" ADD COLUMN "spec_templates" JSONB;
