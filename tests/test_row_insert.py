"""Batches written with multi-row INSERT statements (flows/bfstats/sqlite_store/row_insert.py),
on a real SQLite file: every row lands once, in order, with its exact value and type, whatever the
split into statements."""

from __future__ import annotations

import sqlite3
from contextlib import closing

import pytest
from bfstats.sqlite_store.row_insert import ROWS_PER_STATEMENT, RowInsert

COLUMNS = ["Name", "Count", "Ratio", "Note"]


def _table(path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(
        'CREATE TABLE "odd ""table""" ("Name" TEXT NOT NULL, "Count" INTEGER NOT NULL, '
        '"Ratio" REAL NOT NULL, "Note" TEXT, PRIMARY KEY ("Name"))'
    )
    return conn


def _rows(n: int) -> list[tuple]:
    return [
        (f"player {i:05d} 'q\"", i * 7 - 3, i / 3, None if i % 5 == 0 else f"n{i}")
        for i in range(n)
    ]


def _read(conn) -> list[tuple]:
    return conn.execute(
        'SELECT "Name", "Count", "Ratio", "Note" FROM "odd ""table""" ORDER BY rowid'
    ).fetchall()


@pytest.mark.parametrize("n", [1, ROWS_PER_STATEMENT - 1, ROWS_PER_STATEMENT, 1000, 1001])
def test_every_row_lands_once_in_order_with_its_exact_value(tmp_path, n):
    rows = _rows(n)
    with closing(_table(tmp_path / "t.db")) as conn:
        insert = RowInsert(conn, 'odd "table"', COLUMNS)
        conn.execute("BEGIN")
        insert.write(conn, rows)
        conn.execute("COMMIT")
        assert _read(conn) == rows
        types = conn.execute(
            'SELECT DISTINCT typeof("Count"), typeof("Ratio") FROM "odd ""table"""'
        ).fetchall()
    assert types == [("integer", "real")]


def test_a_low_variable_limit_gives_fewer_rows_per_statement_not_an_error(tmp_path):
    with closing(_table(tmp_path / "t.db")) as conn:
        conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 10)  # as a build with a low limit
        insert = RowInsert(conn, 'odd "table"', COLUMNS)
        assert insert.rows_per_statement == 2
        rows = _rows(7)
        insert.write(conn, rows)
        assert _read(conn) == rows


def test_a_repeated_key_fails_the_write_and_the_transaction_keeps_nothing(tmp_path):
    rows = _rows(600)
    rows[450] = rows[10]
    with closing(_table(tmp_path / "t.db")) as conn:
        insert = RowInsert(conn, 'odd "table"', COLUMNS)
        conn.execute("BEGIN")
        with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
            insert.write(conn, rows)
        conn.execute("ROLLBACK")
        assert _read(conn) == []


def test_a_table_needs_a_column(tmp_path):
    with closing(sqlite3.connect(tmp_path / "t.db")) as conn, pytest.raises(ValueError):
        RowInsert(conn, "t", [])


def test_flat_values_land_as_the_rows_they_spell(tmp_path):
    rows = _rows(ROWS_PER_STATEMENT + 3)
    with closing(_table(tmp_path / "t.db")) as conn:
        insert = RowInsert(conn, 'odd "table"', COLUMNS)
        insert.write_values(conn, [value for row in rows for value in row])
        assert _read(conn) == rows
        with pytest.raises(ValueError, match="not whole rows of 4 columns"):
            insert.write_values(conn, ["x", 1, 1.0])
