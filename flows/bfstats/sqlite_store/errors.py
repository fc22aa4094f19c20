"""Errors about the target SQLite file; each message names the file and what to do."""

from __future__ import annotations

from bfstats.errors import BfstatsError


class SqliteTargetError(BfstatsError, RuntimeError):
    """The SQLite file cannot be used; the message names the path and what to do."""

    kind = "SQLite file unusable"


class DiskFullError(SqliteTargetError):
    """A write ran out of space; the message names the file, the free space and, when known, the
    space the step needs. Nothing of the failed transaction was kept."""

    kind = "disk full"


class MetadataTooNewError(SqliteTargetError):
    """The file's bfstats metadata has a schema version this code does not know."""
