"""The SQLite side of the backfill's tables: types, DDL, drift against an existing file, report.

Everything is derived from the model contracts in the catalog (SPEC sections 4 and 5).
"""

from bfstats.sqlite_schema.ddl import SqliteColumn, SqliteIndex, TableDDL, table_ddl
from bfstats.sqlite_schema.drift import (
    DriftReport,
    ExistingColumn,
    SchemaDriftError,
    affinity,
    check,
    ensure_table,
    existing_columns,
)
from bfstats.sqlite_schema.errors import SchemaError, UnsupportedTypeError
from bfstats.sqlite_schema.report import render
from bfstats.sqlite_schema.types import SqliteType, translate

__all__ = [
    "DriftReport",
    "ExistingColumn",
    "SchemaDriftError",
    "SchemaError",
    "SqliteColumn",
    "SqliteIndex",
    "SqliteType",
    "TableDDL",
    "UnsupportedTypeError",
    "affinity",
    "check",
    "ensure_table",
    "existing_columns",
    "render",
    "table_ddl",
    "translate",
]
