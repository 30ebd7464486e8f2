-- The event log's high-water mark: sequences never go back or repeat, even after
-- the newest events are deleted (they used to be max(seq) + n).
CREATE TABLE "event_sequence" (
    "id" INTEGER NOT NULL DEFAULT 1,
    "last_seq" BIGINT NOT NULL,

    CONSTRAINT "event_sequence_pkey" PRIMARY KEY ("id")
);

INSERT INTO "event_sequence" ("id", "last_seq") SELECT 1, COALESCE(max("seq"), 0) FROM "event";

-- A run ends only once its log is complete: the finish report waits here for
-- lines still on their way; lines that never came are counted.
ALTER TABLE "run" ADD COLUMN "pending_finish" JSONB,
ADD COLUMN "lost_log_lines" INTEGER;
