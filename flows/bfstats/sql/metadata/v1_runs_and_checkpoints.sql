-- Run metadata and load checkpoints, kept in the target SQLite file itself so that a batch and
-- its checkpoint commit in one transaction. Names start with _bfstats_ to stay clear of the API's
-- EF Core tables.
-- Version 1 of the metadata, as bfstats wrote it before schema versions existed. Never edit a
-- released version: later ones are migrations on top (v2_*.sql, ...), applied in order.

-- One row per service and backfill run.
CREATE TABLE IF NOT EXISTS "_bfstats_runs" (
    "run_id" TEXT NOT NULL,
    "service" TEXT NOT NULL,
    "status" TEXT NOT NULL CHECK ("status" IN ('running', 'completed', 'failed')),
    "as_of" TEXT NOT NULL,
    "rows_expected" INTEGER,
    "rows_written" INTEGER NOT NULL DEFAULT 0,
    "started_at" TEXT NOT NULL,
    "finished_at" TEXT,
    "duration_seconds" REAL,
    "error" TEXT,
    "flow_run_id" TEXT,
    "attempts" INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY ("run_id", "service")
);

-- One row per target table: where its load stands. `last_key` is the JSON list of the primary
-- key values of the last row committed to the staging table.
CREATE TABLE IF NOT EXISTS "_bfstats_checkpoints" (
    "sqlite_table" TEXT NOT NULL PRIMARY KEY,
    "service" TEXT NOT NULL,
    "run_id" TEXT NOT NULL,
    "as_of" TEXT NOT NULL,
    "state" TEXT NOT NULL CHECK ("state" IN ('loading', 'published')),
    "last_key" TEXT,
    "rows_written" INTEGER NOT NULL DEFAULT 0,
    "rows_expected" INTEGER,
    "resumed_from" INTEGER NOT NULL DEFAULT 0,
    "rows_read" INTEGER NOT NULL DEFAULT 0,
    "updated_at" TEXT NOT NULL
);
