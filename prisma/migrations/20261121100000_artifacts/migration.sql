-- Artifacts of runs: the bytes live in the artifact store; a row records each one a runner stored.

-- CreateEnum
CREATE TYPE "ArtifactKind" AS ENUM ('diff', 'log', 'result', 'file');

-- CreateTable
CREATE TABLE "artifact" (
    "id" BIGSERIAL NOT NULL,
    "run_id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "kind" "ArtifactKind" NOT NULL,
    "size" BIGINT NOT NULL,
    "sha256" TEXT NOT NULL,
    "content_type" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "artifact_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "artifact_run_id_name_key" ON "artifact"("run_id", "name");

-- AddForeignKey
ALTER TABLE "artifact" ADD CONSTRAINT "artifact_run_id_fkey" FOREIGN KEY ("run_id") REFERENCES "run"("id") ON DELETE CASCADE ON UPDATE CASCADE;
