-- Version 2: a run can be `interrupted`; a run row says who runs or ran it (host, pid) and when
-- it last changed; `_bfstats_builds` records the marts built in ClickHouse, so that a resumed run
-- can reuse them. SQLite cannot alter a CHECK constraint: the runs table is rebuilt, every row
-- kept in its order (rowid breaks ties between runs started in the same second).

CREATE TABLE "_bfstats_runs_v2" (
    "run_id" TEXT NOT NULL,
    "service" TEXT NOT NULL,
    "status" TEXT NOT NULL CHECK (
        "status" IN ('running', 'completed', 'failed', 'interrupted')
    ),
    "as_of" TEXT NOT NULL,
    "rows_expected" INTEGER,
    "rows_written" INTEGER NOT NULL DEFAULT 0,
    "started_at" TEXT NOT NULL,
    "finished_at" TEXT,
    "duration_seconds" REAL,
    "error" TEXT,
    "flow_run_id" TEXT,
    "attempts" INTEGER NOT NULL DEFAULT 1,
    "host" TEXT,
    "pid" INTEGER,
    "updated_at" TEXT,
    PRIMARY KEY ("run_id", "service")
);

INSERT INTO "_bfstats_runs_v2" (
    "run_id", "service", "status", "as_of", "rows_expected", "rows_written", "started_at",
    "finished_at", "duration_seconds", "error", "flow_run_id", "attempts", "updated_at"
)
SELECT
    "run_id", "service", "status", "as_of", "rows_expected", "rows_written", "started_at",
    "finished_at", "duration_seconds", "error", "flow_run_id", "attempts",
    coalesce("finished_at", "started_at")
FROM "_bfstats_runs"
ORDER BY rowid;

DROP TABLE "_bfstats_runs";

ALTER TABLE "_bfstats_runs_v2" RENAME TO "_bfstats_runs";

-- One row per mart built in ClickHouse: by which run, for which as_of, from what (`fingerprint`,
-- a JSON object: the inputs that decide whether the built mart can be reused), and when it was
-- built and its dbt tests passed (NULL until they did).
CREATE TABLE "_bfstats_builds" (
    "model" TEXT NOT NULL PRIMARY KEY,
    "run_id" TEXT NOT NULL,
    "as_of" TEXT NOT NULL,
    "fingerprint" TEXT NOT NULL,
    "built_at" TEXT NOT NULL,
    "tested_at" TEXT
);
