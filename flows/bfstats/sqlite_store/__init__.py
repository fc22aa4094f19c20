"""The target SQLite file: checking and opening it, its transactions, and the run metadata kept
inside it (schema versions, run ledger, checkpoints, mart builds), plus the run lock beside it.

Statements are fixed text with `?` parameters; table and column names come from the catalog and
go through `quote()`. One module per job:
- `preflight`: can the file be used? (creates nothing)
- `connection`: open it (WAL, busy timeout), metadata migrated; a publish's checkpoint deferred
- `transaction`: the one transaction helper (lock waits, rollback, failed COMMIT, full disk)
- `row_insert`: a batch of rows in multi-row INSERT statements
- `table_swap`: a staging table built from a table's own definition, renamed onto it
- `metadata`: schema versions and ordered migrations of the `_bfstats_*` tables
- `ledger`, `checkpoints`, `builds`: the rows of `_bfstats_runs`, `_bfstats_checkpoints`,
  `_bfstats_builds`
- `run_lock`: one backfill per file
- `space`: free space and table sizes, for the messages of a full disk
"""

from bfstats.sqlite_store.basics import (
    BUILDS,
    CHECKPOINTS,
    RUNS,
    SCHEMA_VERSIONS,
    STAGING_PREFIX,
    database_path,
    quote,
    table_exists,
    utc_now,
)
from bfstats.sqlite_store.builds import Build, Builds
from bfstats.sqlite_store.checkpoints import Checkpoint, Checkpoints
from bfstats.sqlite_store.connection import (
    checkpoint_deferred,
    connect,
    connect_read_only,
    ensure_metadata,
)
from bfstats.sqlite_store.errors import DiskFullError, MetadataTooNewError, SqliteTargetError
from bfstats.sqlite_store.ledger import RunLedger, RunRecord
from bfstats.sqlite_store.metadata import LATEST_VERSION, schema_version
from bfstats.sqlite_store.preflight import preflight
from bfstats.sqlite_store.run_lock import RunLock, lock_holder, lock_path
from bfstats.sqlite_store.space import format_bytes, free_bytes, table_bytes
from bfstats.sqlite_store.transaction import transaction

__all__ = [
    "BUILDS",
    "CHECKPOINTS",
    "LATEST_VERSION",
    "RUNS",
    "SCHEMA_VERSIONS",
    "STAGING_PREFIX",
    "Build",
    "Builds",
    "Checkpoint",
    "Checkpoints",
    "DiskFullError",
    "MetadataTooNewError",
    "RunLedger",
    "RunLock",
    "RunRecord",
    "SqliteTargetError",
    "checkpoint_deferred",
    "connect",
    "connect_read_only",
    "database_path",
    "ensure_metadata",
    "format_bytes",
    "free_bytes",
    "lock_holder",
    "lock_path",
    "preflight",
    "quote",
    "schema_version",
    "table_bytes",
    "table_exists",
    "transaction",
    "utc_now",
]
