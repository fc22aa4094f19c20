"""Where each table's load stands (`_bfstats_checkpoints`, one row per target table).

`advance` runs inside the batch's own transaction, so a batch and its checkpoint commit together.
Rows are read by column name.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, fields

from bfstats.sqlite_store.basics import CHECKPOINTS, table_exists, utc_now


@dataclass(frozen=True)
class Checkpoint:
    sqlite_table: str
    service: str
    run_id: str
    as_of: str
    state: str  # loading, published
    last_key: list | None
    rows_written: int
    rows_expected: int | None
    resumed_from: int
    rows_read: int
    updated_at: str | None = None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Checkpoint:
        names = row.keys()
        values = {f.name: row[f.name] if f.name in names else None for f in fields(cls)}
        if values["last_key"] is not None:
            values["last_key"] = json.loads(values["last_key"])
        return cls(**values)

    @property
    def complete(self) -> bool:
        return self.state == "published"


class Checkpoints:
    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def _rows(self, sql: str, params: tuple) -> list[Checkpoint]:
        cursor = self.conn.cursor()
        cursor.row_factory = sqlite3.Row
        return [Checkpoint.from_row(row) for row in cursor.execute(sql, params).fetchall()]

    def get(self, table: str) -> Checkpoint | None:
        rows = self._rows("SELECT * FROM _bfstats_checkpoints WHERE sqlite_table = ?", (table,))
        return rows[0] if rows else None

    def of_run(self, run_id: str, service: str) -> list[Checkpoint]:
        """The checkpoints a run of a service left (its tables that started loading)."""
        if not table_exists(self.conn, CHECKPOINTS):
            return []
        return self._rows(
            "SELECT * FROM _bfstats_checkpoints WHERE run_id = ? AND service = ? "
            "ORDER BY sqlite_table",
            (run_id, service),
        )

    def start(self, table: str, service: str, run_id: str, as_of: str, rows_expected: int) -> None:
        """A fresh load of `table` for this run: nothing written yet."""
        self.conn.execute(
            "INSERT OR REPLACE INTO _bfstats_checkpoints (sqlite_table, service, run_id, as_of, "
            "state, last_key, rows_written, rows_expected, resumed_from, rows_read, updated_at) "
            "VALUES (?, ?, ?, ?, 'loading', NULL, 0, ?, 0, 0, ?)",
            (table, service, run_id, as_of, rows_expected, utc_now()),
        )

    def resume(self, table: str, rows_expected: int) -> None:
        """A resumed load: remember where it resumed, count reads of this attempt from zero."""
        self.conn.execute(
            "UPDATE _bfstats_checkpoints SET resumed_from = rows_written, rows_read = 0, "
            "rows_expected = ?, updated_at = ? WHERE sqlite_table = ?",
            (rows_expected, utc_now(), table),
        )

    def expect(self, table: str, rows_expected: int) -> None:
        """The mart's row count, once known (a mart built in parts: after its last part)."""
        self.conn.execute(
            "UPDATE _bfstats_checkpoints SET rows_expected = ?, updated_at = ? "
            "WHERE sqlite_table = ?",
            (rows_expected, utc_now(), table),
        )

    def advance(self, table: str, last_key: list, rows: int) -> None:
        self.conn.execute(
            "UPDATE _bfstats_checkpoints SET last_key = ?, rows_written = rows_written + ?, "
            "rows_read = rows_read + ?, updated_at = ? WHERE sqlite_table = ?",
            (json.dumps(last_key, ensure_ascii=False), rows, rows, utc_now(), table),
        )

    def mark_published(self, table: str) -> None:
        self.conn.execute(
            "UPDATE _bfstats_checkpoints SET state = 'published', updated_at = ? "
            "WHERE sqlite_table = ?",
            (utc_now(), table),
        )

    def discard(self, table: str) -> None:
        self.conn.execute("DELETE FROM _bfstats_checkpoints WHERE sqlite_table = ?", (table,))
