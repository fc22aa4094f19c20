"""Every service into the API's own database (SPEC sections 4 and 5; issue 7).

The SQLite file is what the API's EF Core migration creates (tests/fixtures/api-schema.sql), plus
an app table of its own with an index, a trigger and a view, and rows in the four analytics
tables the backfill does not write. The flow runs in this process like test_backfill_flow.py's,
on the hand-built dataset of tests/datasets.py: the eight tables must equal the expected rows,
and nothing else in the file may change, its schema byte for byte.
"""

from __future__ import annotations

import logging
import sqlite3
from contextlib import closing, contextmanager

import api_schema
import datasets
import pytest
import test_backfill_flow
from bfstats.catalog import pascal_case
from bfstats.sqlite_store import RunLedger
from support import SERVICES
from test_backfill_flow import TABLE_OF_MODEL, read_table, same_value

pytestmark = pytest.mark.slow
# test_backfill_flow.py's module fixture: raw data in its own ClickHouse database, the flow run
# in this process against the session's Prefect server.
flow_setup = test_backfill_flow.flow_setup

# An application table sharing the file, with its own index, trigger and view.
APP_SQL = """
CREATE TABLE "Users" (
    "Id" INTEGER NOT NULL CONSTRAINT "PK_Users" PRIMARY KEY AUTOINCREMENT,
    "Name" TEXT NOT NULL, "Email" TEXT NULL, "Touched" INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX "IX_Users_Name" ON "Users" ("Name");
CREATE TRIGGER "TR_Users_Touch" AFTER UPDATE OF "Email" ON "Users"
BEGIN UPDATE "Users" SET "Touched" = "Touched" + 1 WHERE "Id" = NEW."Id"; END;
CREATE VIEW "UsersWithEmail" AS SELECT "Id", "Name" FROM "Users" WHERE "Email" IS NOT NULL;
INSERT INTO "Users" ("Name", "Email") VALUES
    ('alice', 'alice@example.org'), ('bob', NULL), ('O''Brien "The 🎯"', 'ob@example.org');
"""

# The API's analytics tables this project does not write; they must keep exactly these rows.
OTHER_ROWS = {
    "HourlyActivityPatterns": [
        ("bf1942", 0, 0, 12.5, 3.0, 1800.0, "weekly", "2024-01-01T00:00:00Z"),
        ("fh2", 6, 23, 0.0, 0.0, 0.0, "daily", "2024-01-01T00:00:00Z"),
    ],
    "MapGlobalAverages": [("wake", "srv-1", 1.25, 30.5, 10, "2024-01-01T00:00:00Z")],
    "PlayerDailyStats": [
        ("alice", "2024-01-01", 5, 2, 300, 45.5, 3),
        ('O\'Brien "The 🎯"', "2024-01-02", 0, 0, -5, 1.0, 1),
    ],
    "ServerLeaderboardEntries": [
        ("srv-1", "all_time", "kills", 1, "alice", 42.0, 7, "2024-01-01T00:00:00Z"),
    ],
}
MODEL_OF_TABLE = {table: model for model, table in TABLE_OF_MODEL.items()}
OWN_METADATA = "_bfstats_"


def api_file(path, replace: dict[str, tuple[str, str]] | None = None):
    """The API's database with the app table and the other analytics rows; `replace[table] =
    (old, new)` edits that table's statements first. Each of the eight tables gets one stale
    row, which a load must replace."""
    statements = api_schema.statements_by_table()
    for table, (old, new) in (replace or {}).items():
        assert old in statements[table], f"{old!r} is not in the DDL of {table}"
        statements[table] = statements[table].replace(old, new)
    with closing(sqlite3.connect(path)) as conn:
        conn.executescript("".join(statements.values()) + APP_SQL)
        for table, rows in OTHER_ROWS.items():
            marks = ", ".join("?" for _ in rows[0])
            conn.executemany(f'INSERT INTO "{table}" VALUES ({marks})', rows)
        for table in TABLE_OF_MODEL.values():
            names = [row[1] for row in conn.execute(f'PRAGMA table_info("{table}")')]
            columns = ", ".join(f'"{name}"' for name in names)
            marks = ", ".join("?" for _ in names)
            # '1' suits every column: SQLite's affinity makes it 1 or 1.0 where so declared.
            conn.execute(f'INSERT INTO "{table}" ({columns}) VALUES ({marks})', ["1"] * len(names))
        conn.commit()
    return path


def schema(db) -> list[tuple]:
    """Every schema object but the project's own metadata, as stored: (type, name, tbl_name,
    sql); and the file's user_version and application_id."""
    with closing(sqlite3.connect(db)) as conn:
        objects = conn.execute(
            'SELECT "type", "name", "tbl_name", "sql" FROM "sqlite_master" '
            'WHERE substr("name", 1, 9) != ? AND substr("tbl_name", 1, 9) != ? '
            'ORDER BY "type", "name"',
            (OWN_METADATA, OWN_METADATA),
        ).fetchall()
        versions = [
            conn.execute(f"PRAGMA {name}").fetchone() for name in ("user_version", "application_id")
        ]
    return [*objects, *versions]


def rows_of_other_tables(db) -> dict[str, list[tuple]]:
    """The rows of every table and view the backfill must not write, in storage order."""
    with closing(sqlite3.connect(db)) as conn:
        names = [
            name
            for (name,) in conn.execute(
                'SELECT "name" FROM "sqlite_master" WHERE "type" IN (\'table\', \'view\') '
                'AND substr("name", 1, 9) != ? ORDER BY "name"',
                (OWN_METADATA,),
            )
            if name not in MODEL_OF_TABLE
        ]
        return {name: conn.execute(f'SELECT * FROM "{name}"').fetchall() for name in names}


def assert_holds_the_expected_rows(db, table: str) -> None:
    """The table's rows equal datasets.EXPECTED for its model, on the model's columns; any
    column only the API's table has must be NULL."""
    expected = [
        {pascal_case(column): value for column, value in row.items()}
        for row in datasets.EXPECTED[MODEL_OF_TABLE[table]]
    ]
    actual = read_table(db, table)
    assert len(actual) == len(expected), table
    columns = list(expected[0])

    def key(row):
        return tuple(str(row[c]) for c in columns)

    for got, want in zip(sorted(actual, key=key), sorted(expected, key=key), strict=True):
        extra = {c: got[c] for c in set(got) - set(want)}
        assert set(extra.values()) <= {None}, f"{table}: {extra}"
        mismatched = {c: (got[c], want[c]) for c in want if not same_value(got[c], want[c])}
        assert not mismatched, f"{table} row {want}: {mismatched}"


def ledger(db) -> RunLedger:
    return RunLedger(sqlite3.connect(db))


class _Messages(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextmanager
def logged_messages():
    """What the flow logs: the loader logs through Prefect's run loggers inside a run."""
    handler = _Messages()
    loggers = [logging.getLogger(name) for name in ("prefect.flow_runs", "prefect.task_runs")]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield handler.messages
    finally:
        for logger in loggers:
            logger.removeHandler(handler)


def test_every_service_loads_into_the_apis_file_and_leaves_the_rest_as_it_was(flow_setup, tmp_path):
    db = api_file(tmp_path / "api.db")
    schema_before, rows_before = schema(db), rows_of_other_tables(db)
    assert len(rows_before["__EFMigrationsHistory"]) == 1
    assert len(rows_before["Users"]) == 3 and len(rows_before["UsersWithEmail"]) == 2

    with logged_messages() as messages:
        state = flow_setup(db, services=["all"], batch_size=3)
    assert state.is_completed(), state.message
    for table in TABLE_OF_MODEL.values():
        assert_holds_the_expected_rows(db, table)
    assert schema(db) == schema_before
    assert rows_of_other_tables(db) == rows_before
    # The API's file matches every model exactly: nothing to note.
    assert [m for m in messages if ": note: " in m] == []

    forced = flow_setup(db, services=["all"], force=True)
    assert forced.is_completed(), forced.message
    assert {ledger(db).latest(service).status for service in SERVICES} == {"completed"}
    for table in TABLE_OF_MODEL.values():
        assert_holds_the_expected_rows(db, table)
    assert schema(db) == schema_before
    assert rows_of_other_tables(db) == rows_before

    # The app's own trigger still fires and its index still holds.
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("""UPDATE "Users" SET "Email" = 'bob@example.org' WHERE "Name" = 'bob'""")
        assert conn.execute(
            """SELECT "Touched" FROM "Users" WHERE "Name" = 'bob'"""
        ).fetchone() == (1,)
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute("""INSERT INTO "Users" ("Name") VALUES ('alice')""")


def test_a_drifted_api_table_stops_only_its_service(flow_setup, tmp_path):
    db = api_file(
        tmp_path / "drift.db",
        {"PlayerMilestones": ('"Milestone" INTEGER NOT NULL', '"Milestone" TEXT NOT NULL')},
    )
    schema_before, rows_before = schema(db), rows_of_other_tables(db)
    stale = read_table(db, "PlayerMilestones")

    state = flow_setup(db, services=["all"])
    assert state.is_failed()
    difference = "column `Milestone`: SQLite has TEXT, the model produces INTEGER"
    assert "player-milestones" in state.message and difference in state.message
    failed = ledger(db).latest("player-milestones")
    assert failed.status == "failed"
    assert (
        "SQLite table PlayerMilestones does not match the model player_milestones: "
        f"{difference}; fix the table"
    ) in failed.error
    for service in set(SERVICES) - {"player-milestones"}:
        assert ledger(db).latest(service).status == "completed", service
    for table in set(TABLE_OF_MODEL.values()) - {"PlayerMilestones"}:
        assert_holds_the_expected_rows(db, table)
    assert read_table(db, "PlayerMilestones") == stale
    assert schema(db) == schema_before
    assert rows_of_other_tables(db) == rows_before


def test_harmless_differences_load_and_are_logged_once_per_table(flow_setup, tmp_path):
    missing_index = 'CREATE INDEX "IX_PlayerMapStats_MapName" ON "PlayerMapStats" ("MapName");\n'
    db = api_file(
        tmp_path / "notes.db",
        {
            "PlayerServerStats": (
                '"UpdatedAt" TEXT NOT NULL,',
                '"UpdatedAt" TEXT NOT NULL, "Comment" TEXT NULL,',
            ),
            "PlayerMapStats": (missing_index, ""),
        },
    )
    schema_before, rows_before = schema(db), rows_of_other_tables(db)

    with logged_messages() as messages:
        state = flow_setup(db, services=["player-stats"])
    assert state.is_completed(), state.message
    for table in ("PlayerStatsLifetimes", "PlayerServerStats", "PlayerMapStats"):
        assert_holds_the_expected_rows(db, table)
    assert schema(db) == schema_before
    assert rows_of_other_tables(db) == rows_before
    notes = [m for m in messages if ": note: " in m]
    assert sorted(notes) == [
        "PlayerMapStats: note: index `IX_PlayerMapStats_MapName` on (MapName): missing in "
        "SQLite; the backfill does not add it (reads may be slower)",
        "PlayerServerStats: note: column `Comment`: only in SQLite (nullable); the backfill "
        "leaves it so",
    ]


# What an application may add around the API's analytics tables: a view over one, a trigger on
# another that keeps a log, and the planner statistics of ANALYZE.
AROUND_SQL = """
CREATE VIEW "BusyServers" AS
    SELECT "ServerGuid", max("PeakPlayers") AS "Peak" FROM "ServerOnlineCounts" GROUP BY 1;
CREATE TABLE "MilestoneLog" ("PlayerName" TEXT NOT NULL, "Milestone" INTEGER NOT NULL);
CREATE TRIGGER "TR_PlayerMilestones_Log" AFTER INSERT ON "PlayerMilestones" BEGIN
    INSERT INTO "MilestoneLog" VALUES (NEW."PlayerName", NEW."Milestone");
END;
ANALYZE;
"""


def test_views_triggers_and_statistics_around_the_apis_tables_survive_the_publish(
    flow_setup, tmp_path
):
    db = api_file(tmp_path / "around.db")
    with closing(sqlite3.connect(db)) as conn:
        conn.executescript(AROUND_SQL)
        statistics = conn.execute("SELECT * FROM sqlite_stat1 ORDER BY 1, 2").fetchall()
    assert {row[0] for row in statistics} >= {"ServerOnlineCounts", "PlayerMilestones"}
    schema_before = schema(db)

    state = flow_setup(db, services=["server-online-counts", "player-milestones"])
    assert state.is_completed(), state.message
    for table in ("ServerOnlineCounts", "PlayerMilestones"):
        assert_holds_the_expected_rows(db, table)
    assert schema(db) == schema_before
    with closing(sqlite3.connect(db)) as conn:
        assert conn.execute("SELECT * FROM sqlite_stat1 ORDER BY 1, 2").fetchall() == statistics
        # The view reads the published table.
        assert conn.execute('SELECT count(*) FROM "BusyServers"').fetchone()[0] == len(
            {row["server_guid"] for row in datasets.EXPECTED["server_online_counts"]}
        )
        # The table with a trigger had its rows copied: the trigger saw every published row.
        logged = conn.execute('SELECT * FROM "MilestoneLog" ORDER BY 1, 2').fetchall()
        published = conn.execute(
            'SELECT "PlayerName", "Milestone" FROM "PlayerMilestones" ORDER BY 1, 2'
        ).fetchall()
    assert logged == published and published
