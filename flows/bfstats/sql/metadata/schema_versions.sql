-- The version of the bfstats metadata in this file: one row per migration applied, in order.
-- (Not PRAGMA user_version: the file belongs to the API, which may use that for itself.)
CREATE TABLE IF NOT EXISTS "_bfstats_schema" (
    "version" INTEGER NOT NULL PRIMARY KEY,
    "applied_at" TEXT NOT NULL,
    "description" TEXT NOT NULL
);
