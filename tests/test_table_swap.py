"""Replacing a table by a staging copy built from its own definition (sqlite_store.table_swap).

On real SQLite files: the file's schema must come out byte for byte as it was, views and other
tables' triggers that name the table must keep working, ANALYZE's statistics must survive, and
the tables a rename would change in meaning (triggers, AUTOINCREMENT) must be refused.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing

import pytest
from bfstats.sqlite_store import table_swap

STAGING = "_bfstats_staging_Counts"

API_SQL = """
CREATE TABLE "Counts" (
    "ServerGuid" TEXT NOT NULL, "Hour" TEXT NOT NULL, "Players" INTEGER NOT NULL DEFAULT 0,
    "Note" TEXT NULL,
    CONSTRAINT "PK_Counts" PRIMARY KEY ("ServerGuid", "Hour")
);
CREATE INDEX "IX_Counts_Hour" ON "Counts" ("Hour");
CREATE UNIQUE INDEX "IX_Counts_Players_Note" ON "Counts" ("Players", "Note");
CREATE VIEW "BusyHours" AS SELECT "Hour", sum("Players") AS "Players" FROM "Counts" GROUP BY "Hour";
CREATE TABLE "Feed" ("ServerGuid" TEXT, "Hour" TEXT);
CREATE TRIGGER "TR_Feed" AFTER INSERT ON "Feed" BEGIN
    INSERT INTO "Counts" ("ServerGuid", "Hour", "Players")
    VALUES (NEW."ServerGuid", NEW."Hour", 99);
END;
INSERT INTO "Counts" VALUES
    ('old', '2024-01-01T00:00:00Z', 1, NULL), ('old', '2024-01-01T01:00:00Z', 2, NULL);
"""

NEW_ROWS = [
    ("a", "2024-02-01T00:00:00Z", 3, None),
    ("a", "2024-02-01T01:00:00Z", 4, "x"),
    ("b", "2024-02-01T00:00:00Z", 5, None),
]


def schema(conn) -> list[tuple]:
    return conn.execute(
        "SELECT type, name, tbl_name, sql FROM sqlite_master "
        "WHERE substr(tbl_name, 1, 9) != '_bfstats_' ORDER BY type, name"
    ).fetchall()


@pytest.fixture
def api_db(tmp_path):
    path = tmp_path / "api.db"
    with closing(sqlite3.connect(path)) as conn:
        conn.executescript(API_SQL)
        conn.execute("ANALYZE")
        conn.commit()
    conn = sqlite3.connect(path, isolation_level=None)
    yield conn
    conn.close()


def stage(conn, table="Counts", staging=STAGING, rows=NEW_ROWS) -> None:
    statement = table_swap.rebuild_ddl(conn, table, staging)
    assert statement is not None
    conn.execute(statement)
    conn.executemany(f'INSERT INTO "{staging}" VALUES (?, ?, ?, ?)', rows)


def test_the_staging_table_has_the_targets_definition_under_its_own_name(api_db):
    statement = table_swap.rebuild_ddl(api_db, "Counts", STAGING)
    assert statement.startswith(f'CREATE TABLE "{STAGING}" (')
    api_db.execute(statement)
    info = 'SELECT name, type, "notnull", dflt_value, pk FROM pragma_table_info(?)'
    assert (
        api_db.execute(info, (STAGING,)).fetchall() == api_db.execute(info, ("Counts",)).fetchall()
    )
    assert table_swap.is_rebuild_of(api_db, STAGING, "Counts")


def test_swapping_in_keeps_the_schema_the_views_the_triggers_and_the_statistics(api_db):
    schema_before = schema(api_db)
    statistics_before = api_db.execute(
        "SELECT tbl, idx, stat FROM sqlite_stat1 WHERE tbl = 'Counts' ORDER BY idx"
    ).fetchall()
    assert len(statistics_before) == 3  # ANALYZE covered the key and both indexes
    stage(api_db)

    api_db.execute("BEGIN")
    table_swap.swap_in(api_db, STAGING, "Counts")
    api_db.execute("COMMIT")

    assert schema(api_db) == schema_before
    assert api_db.execute('SELECT * FROM "Counts" ORDER BY 1, 2').fetchall() == NEW_ROWS
    assert (
        api_db.execute(
            "SELECT tbl, idx, stat FROM sqlite_stat1 WHERE tbl = 'Counts' ORDER BY idx"
        ).fetchall()
        == statistics_before
    )
    assert api_db.execute("PRAGMA legacy_alter_table").fetchone() == (0,)
    assert api_db.execute('SELECT * FROM "BusyHours" ORDER BY 1').fetchall() == [
        ("2024-02-01T00:00:00Z", 8),
        ("2024-02-01T01:00:00Z", 4),
    ]
    # The other table's trigger writes into the new table; the key and the unique index hold.
    api_db.execute("""INSERT INTO "Feed" VALUES ('c', '2024-02-01T02:00:00Z')""")
    assert api_db.execute(
        """SELECT "Players" FROM "Counts" WHERE "ServerGuid" = 'c'"""
    ).fetchall() == [(99,)]
    with pytest.raises(sqlite3.IntegrityError):
        api_db.execute("""INSERT INTO "Counts" VALUES ('a', '2024-02-01T00:00:00Z', 7, NULL)""")
    with pytest.raises(sqlite3.IntegrityError):
        api_db.execute("""INSERT INTO "Counts" VALUES ('z', '2024-03-01T00:00:00Z', 4, 'x')""")
    assert api_db.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_a_rolled_back_swap_leaves_the_old_table(api_db):
    schema_before = schema(api_db)
    stage(api_db)
    api_db.execute("BEGIN")
    table_swap.swap_in(api_db, STAGING, "Counts")
    api_db.execute("ROLLBACK")
    assert schema(api_db) == schema_before
    assert [r[0] for r in api_db.execute('SELECT "ServerGuid" FROM "Counts"')] == ["old", "old"]


@pytest.mark.parametrize(
    "create",
    [
        'CREATE TABLE "T" ("A" TEXT NOT NULL PRIMARY KEY, "B" INTEGER)',
        "CREATE TABLE T (A TEXT NOT NULL PRIMARY KEY, B INTEGER)",
        "create table if not exists [T](A TEXT NOT NULL PRIMARY KEY, B INTEGER)",
        "CREATE TABLE `T` (A TEXT NOT NULL PRIMARY KEY, B INTEGER) WITHOUT ROWID",
        'CREATE TABLE main."T" ("A" TEXT NOT NULL PRIMARY KEY, "B" INTEGER)',
    ],
)
def test_every_way_of_naming_the_table_is_rebuilt_and_swapped(tmp_path, create):
    with closing(sqlite3.connect(tmp_path / "t.db", isolation_level=None)) as conn:
        conn.execute(create)
        stored = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'T' COLLATE NOCASE")
        stored = stored.fetchone()[0]
        statement = table_swap.rebuild_ddl(conn, "T", "S (new)")
        assert statement is not None, stored
        conn.execute(statement)
        conn.execute("INSERT INTO \"S (new)\" VALUES ('k', 1)")
        conn.execute("BEGIN")
        table_swap.swap_in(conn, "S (new)", "T")
        conn.execute("COMMIT")
        assert conn.execute("SELECT * FROM T").fetchall() == [("k", 1)]
        after = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'table'").fetchall()
        assert len(after) == 1
        # Only the name's spelling may change: SQLite writes the new name in double quotes.
        assert after[0][0].split("(", 1)[1] == stored.split("(", 1)[1]


def test_a_table_with_a_trigger_or_autoincrement_is_not_rebuilt(tmp_path):
    with closing(sqlite3.connect(tmp_path / "t.db", isolation_level=None)) as conn:
        conn.executescript(
            """
            CREATE TABLE "Audited" ("A" TEXT NOT NULL PRIMARY KEY);
            CREATE TABLE "Log" ("What" TEXT);
            CREATE TRIGGER "TR_Audited" AFTER DELETE ON "Audited"
            BEGIN INSERT INTO "Log" VALUES (OLD."A"); END;
            CREATE TABLE "Counted" ("Id" INTEGER PRIMARY KEY AUTOINCREMENT, "A" TEXT);
            """
        )
        assert table_swap.rebuild_ddl(conn, "Audited", "S") is None
        assert table_swap.rebuild_ddl(conn, "Counted", "S") is None
        assert table_swap.rebuild_ddl(conn, "Missing", "S") is None
        # SQLite finds "log" as "Log"; dropping and renaming would respell the name.
        assert table_swap.rebuild_ddl(conn, "log", "S") is None
        # "Log" has no trigger of its own (it is only written by one): rebuilt.
        assert table_swap.rebuild_ddl(conn, "Log", "S") == 'CREATE TABLE "S" ("What" TEXT)'


def test_a_staging_table_made_for_an_older_definition_is_not_swapped(api_db):
    stage(api_db)
    api_db.execute('ALTER TABLE "Counts" ADD COLUMN "Extra" TEXT NULL')
    assert not table_swap.is_rebuild_of(api_db, STAGING, "Counts")
