"""Insert a batch of rows with as few statements as SQLite allows.

`executemany` runs the INSERT once per row: each row is one `sqlite3_step` and one reset, and the
GIL is released and taken back around every step. One INSERT with many `VALUES` tuples binds the
same values but steps once for all of them (`benchmarks/bench_row_insert.py` compares the two on
ServerOnlineCounts-shaped rows in 1000-row transactions; figures in the README).

A statement holds at most `ROWS_PER_STATEMENT` rows and never more parameters than the
connection's `SQLITE_LIMIT_VARIABLE_NUMBER` (32,766 in builds since 3.32, 999 before): a wide
table gets fewer rows per statement, never an error. Between 50 and 1000 rows per statement the
speed is the same within the noise; 250 keeps each compiled statement small. The statement for a
full chunk is built once; a shorter last chunk gets its own (both stay in sqlite3's statement
cache).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from itertools import chain

from bfstats.sqlite_store.basics import quote

ROWS_PER_STATEMENT = 250


class RowInsert:
    """`INSERT INTO table (columns) VALUES (...), (...)` for rows given as tuples, in order."""

    def __init__(self, conn: sqlite3.Connection, table: str, columns: Sequence[str]):
        if not columns:
            raise ValueError(f"an insert into {table} needs at least one column")
        names = ", ".join(quote(c) for c in columns)
        self._head = f"INSERT INTO {quote(table)} ({names}) VALUES "  # noqa: S608 - quoted
        self._tuple = "(" + ", ".join("?" for _ in columns) + ")"
        self._width = len(columns)
        variable_limit = conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        self.rows_per_statement = max(1, min(ROWS_PER_STATEMENT, variable_limit // len(columns)))
        self._full = self._statement(self.rows_per_statement)

    def _statement(self, rows: int) -> str:
        return self._head + ", ".join([self._tuple] * rows)

    def write(self, conn: sqlite3.Connection, rows: Sequence[tuple]) -> None:
        """Insert `rows` (in the caller's transaction), in their order."""
        self.write_values(conn, list(chain.from_iterable(rows)))

    def write_values(self, conn: sqlite3.Connection, values: list) -> None:
        """Insert rows given as one flat list, row after row (`bfstats.row_batches`)."""
        if len(values) % self._width:
            raise ValueError(f"{len(values)} values are not whole rows of {self._width} columns")
        step = self.rows_per_statement * self._width
        for start in range(0, len(values), step):
            chunk = values[start : start + step]
            rows = len(chunk) // self._width
            sql = self._full if rows == self.rows_per_statement else self._statement(rows)
            conn.execute(sql, chunk)
