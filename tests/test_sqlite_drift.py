"""Drift between the models and an existing SQLite file; creating missing tables; the report.

SPEC section 5 sorts what differs in two: a difference that could lose, truncate or corrupt data,
or break a write, stops the table (DRIFTS); one that cannot is a note and the load goes on
(TOLERATED). The starting point is always the API's own file (tests/fixtures/api-schema.sql).
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
from contextlib import closing

import api_schema
import pytest
from bfstats import loader, progress
from bfstats.sqlite_schema import (
    SchemaDriftError,
    check,
    ensure_table,
    existing_columns,
    render,
)
from bfstats.sqlite_schema.drift import affinity
from test_sqlite_ddl import MART_TABLES, hand_catalog, hand_spec, specs_of


def api_database(path, replace: dict[str, tuple[str, str]] | None = None):
    """The API's database from its own file, with `replace[table] = (old, new)` applied to that
    table's statements; every mart table gets one row."""
    statements = api_schema.statements_by_table()
    for table, (old, new) in (replace or {}).items():
        assert old in statements[table], f"{old!r} is not in the DDL of {table}"
        statements[table] = statements[table].replace(old, new)
    with closing(sqlite3.connect(path)) as conn:
        conn.executescript("".join(statements.values()))
        for table in MART_TABLES:
            if statements[table]:
                insert_row(conn, table)
        conn.commit()
    return path


def insert_row(conn: sqlite3.Connection, table: str) -> None:
    columns = existing_columns(conn, table)
    names = ", ".join(f'"{c.name}"' for c in columns)
    marks = ", ".join("?" for _ in columns)
    # '1' suits every column: SQLite's affinity turns it into 1 or 1.0 where that is declared.
    conn.execute(f'insert into "{table}" ({names}) values ({marks})', ["1"] * len(columns))


def row_count(path, table: str) -> int:
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute(f'select count(*) from "{table}"').fetchone()[0]


def schema_of(path) -> list[tuple]:
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute('select * from "sqlite_master" order by "name"').fetchall()


def test_the_real_catalog_has_the_eight_marts(real_catalog):
    tables = [spec.sqlite_table for service in real_catalog.services() for spec in service.tables]
    assert sorted(tables) == MART_TABLES


@pytest.mark.parametrize("source", ["real catalog", "hand specs"])
def test_the_apis_tables_match_every_model_without_notes(tmp_path, real_catalog, source):
    path = api_database(tmp_path / "api.db")
    with closing(sqlite3.connect(path)) as conn:
        reports = {spec.sqlite_table: check(conn, spec) for spec in specs_of(source, real_catalog)}
    assert sorted(reports) == MART_TABLES
    for table, report in reports.items():
        assert (report.table, report.exists, report.ok) == (table, True, True), report.message()
        assert (report.differences, report.notes) == ([], []), table


@pytest.mark.parametrize(
    ("declared", "expected"),
    [
        ("INTEGER", "INTEGER"),
        ("INT", "INTEGER"),
        ("BIGINT", "INTEGER"),
        ("unsigned big int", "INTEGER"),
        ("POINT", "INTEGER"),  # SQLite's own quirk: it contains INT
        ("TEXT", "TEXT"),
        ("VARCHAR(255)", "TEXT"),
        ("NCHAR(55)", "TEXT"),
        ("CLOB", "TEXT"),
        ("REAL", "REAL"),
        ("DOUBLE PRECISION", "REAL"),
        ("FLOAT", "REAL"),
        ("BLOB", "BLOB"),
        ("", "BLOB"),
        ("NUMERIC", "NUMERIC"),
        ("DECIMAL(10,5)", "NUMERIC"),
        ("DATETIME", "NUMERIC"),
        ("BOOLEAN", "NUMERIC"),
    ],
)
def test_affinity_follows_sqlites_rules(declared, expected):
    assert affinity(declared) == expected


def test_affinity_agrees_with_sqlite_itself():
    """typeof() of '1' stored in a column: 'integer' for INTEGER and NUMERIC affinity, 'real' for
    REAL, 'text' for TEXT and BLOB (no conversion)."""
    stored = {"INTEGER": "integer", "NUMERIC": "integer", "REAL": "real", "TEXT": "text"}
    stored["BLOB"] = "text"
    declared = ["BIGINT", "VARCHAR(9)", "CLOB", "DOUBLE", "FLOAT", "DATETIME", "BLOB", "POINT"]
    with closing(sqlite3.connect(":memory:")) as conn:
        columns = ", ".join(f'"c{i}" {t}' for i, t in enumerate(declared))
        conn.execute(f'create table "t" ({columns})')
        conn.execute(f'insert into "t" values ({", ".join("?" for _ in declared)})', ["1"] * 8)
        kinds = conn.execute(
            f'select {", ".join(f"typeof(c{i})" for i in range(len(declared)))} from "t"'
        ).fetchone()
    assert list(kinds) == [stored[affinity(t)] for t in declared]


# (table, DDL text replaced, replacement, the one difference expected)
DRIFTS = {
    "type": (
        "PlayerBestScores",
        '"Rank" INTEGER NOT NULL',
        '"Rank" TEXT NOT NULL',
        "column `Rank`: SQLite has TEXT, the model produces INTEGER",
    ),
    "another affinity under another spelling": (
        "PlayerMilestones",
        '"AchievedAt" TEXT NOT NULL',
        '"AchievedAt" DATETIME NOT NULL',
        "column `AchievedAt`: SQLite has DATETIME (NUMERIC affinity), the model produces TEXT",
    ),
    "no declared type": (
        "ServerOnlineCounts",
        '"AvgPlayers" REAL NOT NULL',
        '"AvgPlayers" NOT NULL',
        "column `AvgPlayers`: SQLite has no declared type (BLOB affinity), the model produces REAL",
    ),
    "NOT NULL where the model is nullable": (
        "PlayerServerStats",
        '"HighestScoreTime" TEXT NULL',
        '"HighestScoreTime" TEXT NOT NULL',
        "column `HighestScoreTime`: SQLite has NOT NULL, the model produces nullable",
    ),
    "missing column": (
        "PlayerStatsLifetimes",
        '"KillRate" REAL NOT NULL,',
        "",
        "column `KillRate`: missing in SQLite, the model produces REAL NOT NULL",
    ),
    "extra NOT NULL column": (
        "PlayerMilestones",
        '"DaysToAchieve" INTEGER NOT NULL,',
        '"DaysToAchieve" INTEGER NOT NULL, "Badge" TEXT NOT NULL,',
        "column `Badge`: only in SQLite, NOT NULL without a default, so the model's rows "
        "cannot be inserted",
    ),
    "primary key order": (
        "PlayerBestScores",
        'PRIMARY KEY ("PlayerName", "Period", "Rank")',
        'PRIMARY KEY ("PlayerName", "Rank", "Period")',
        "primary key: SQLite has (PlayerName, Rank, Period), "
        "the model produces (PlayerName, Period, Rank)",
    ),
    "primary key columns": (
        "PlayerMilestones",
        'PRIMARY KEY ("PlayerName", "Milestone")',
        'PRIMARY KEY ("PlayerName", "Milestone", "AchievedAt")',
        "primary key: SQLite has (PlayerName, Milestone, AchievedAt), "
        "the model produces (PlayerName, Milestone)",
    ),
    "no primary key": (
        "PlayerStatsLifetimes",
        ' CONSTRAINT "PK_PlayerStatsLifetimes" PRIMARY KEY',
        "",
        "primary key: SQLite has (none), the model produces (PlayerName)",
    ),
    "a UNIQUE index the key does not cover": (
        "PlayerMapStats",
        'CREATE INDEX "IX_PlayerMapStats_MapName"',
        'CREATE UNIQUE INDEX "IX_PlayerMapStats_MapName"',
        "index `IX_PlayerMapStats_MapName` on (MapName): UNIQUE in SQLite, but the model's rows "
        "are only unique on (PlayerName, MapName, ServerGuid), so a write can fail",
    ),
}


@pytest.mark.parametrize("kind", sorted(DRIFTS))
def test_each_kind_of_drift_is_reported_and_stops_the_table(tmp_path, kind):
    table, old, new, difference = DRIFTS[kind]
    path = api_database(tmp_path / "api.db", {table: (old, new)})
    before = schema_of(path)
    with closing(sqlite3.connect(path)) as conn:
        report = check(conn, hand_spec(table))
        assert (report.exists, report.ok) == (True, False)
        assert report.differences == [difference]
        assert report.message() == (
            f"SQLite table {table} does not match the model {hand_spec(table).model}: "
            f"{difference}; fix the table (or drop it to have it recreated) or fix the model; "
            "the backfill never alters an existing table"
        )
        with pytest.raises(SchemaDriftError) as caught:
            ensure_table(conn, hand_spec(table))
        assert caught.value.report.differences == [difference]
        assert str(caught.value) == report.message()
        conn.commit()
    assert schema_of(path) == before
    assert row_count(path, table) == 1


def test_several_differences_are_listed_one_per_line(tmp_path):
    replace = [
        ('"Milestone" INTEGER', '"Milestone" TEXT'),
        ('"TotalKillsAtMilestone" INTEGER NOT NULL,', ""),
        ('"AchievedAt" TEXT NOT NULL', '"AchievedAt" TEXT NULL'),
    ]
    ddl = api_schema.statements_by_table()["PlayerMilestones"]
    drifted = ddl
    for old, new in replace:
        drifted = drifted.replace(old, new)
    path = api_database(tmp_path / "api.db", {"PlayerMilestones": (ddl, drifted)})
    with closing(sqlite3.connect(path)) as conn:
        report = check(conn, hand_spec("PlayerMilestones"))
    assert report.differences == [
        "column `Milestone`: SQLite has TEXT, the model produces INTEGER",
        "column `TotalKillsAtMilestone`: missing in SQLite, the model produces INTEGER NOT NULL",
    ]
    assert report.notes == [
        "column `AchievedAt` is nullable in SQLite; the model always fills it",
    ]
    assert "INTEGER; column `TotalKillsAtMilestone`" in report.message()
    assert "AchievedAt" not in report.message()


# (table, DDL text replaced, replacement, the notes expected)
TOLERATED = {
    "nullable where the model always fills it": (
        "PlayerMilestones",
        '"AchievedAt" TEXT NOT NULL',
        '"AchievedAt" TEXT NULL',
        ["column `AchievedAt` is nullable in SQLite; the model always fills it"],
    ),
    "another spelling of the same affinity": (
        "ServerHourlyPatterns",
        '"DataPoints" INTEGER NOT NULL',
        '"DataPoints" BIGINT NOT NULL',
        [
            "column `DataPoints` is declared BIGINT in SQLite, the model produces INTEGER: the "
            "same INTEGER affinity, so SQLite stores the values alike"
        ],
    ),
    "VARCHAR for TEXT": (
        "PlayerBestScores",
        '"MapName" TEXT NOT NULL',
        '"MapName" VARCHAR(64) NOT NULL',
        [
            "column `MapName` is declared VARCHAR(64) in SQLite, the model produces TEXT: the "
            "same TEXT affinity, so SQLite stores the values alike"
        ],
    ),
    "extra nullable column": (
        "PlayerMilestones",
        '"DaysToAchieve" INTEGER NOT NULL,',
        '"DaysToAchieve" INTEGER NOT NULL, "Comment" TEXT NULL,',
        ["column `Comment`: only in SQLite (nullable); the backfill leaves it so"],
    ),
    "extra NOT NULL column with a default": (
        "PlayerMilestones",
        '"DaysToAchieve" INTEGER NOT NULL,',
        '"DaysToAchieve" INTEGER NOT NULL, "Version" INTEGER NOT NULL DEFAULT 0,',
        ["column `Version`: only in SQLite (default 0); the backfill leaves it so"],
    ),
    "missing index": (
        "ServerOnlineCounts",
        'CREATE INDEX "IX_ServerOnlineCounts_HourTimestamp" ON "ServerOnlineCounts" '
        '("HourTimestamp");',
        "",
        [
            "index `IX_ServerOnlineCounts_HourTimestamp` on (HourTimestamp): missing in SQLite; "
            "the backfill does not add it (reads may be slower)"
        ],
    ),
    "index on other columns": (
        "PlayerMapStats",
        'ON "PlayerMapStats" ("MapName");',
        'ON "PlayerMapStats" ("MapName", "PlayerName");',
        ["index `IX_PlayerMapStats_MapName` on (MapName): SQLite has it on (MapName, PlayerName)"],
    ),
    "index under another name": (
        "ServerOnlineCounts",
        '"IX_ServerOnlineCounts_HourTimestamp" ON',
        '"IX_Hours" ON',
        ["index `IX_ServerOnlineCounts_HourTimestamp` on (HourTimestamp) is present as `IX_Hours`"],
    ),
    "column name in another case": (
        "PlayerMilestones",
        '"AchievedAt" TEXT NOT NULL',
        '"achievedat" TEXT NOT NULL',
        ["column `AchievedAt` is spelled `achievedat` in SQLite"],
    ),
    "extra index": (
        "PlayerMilestones",
        ");",
        '); CREATE INDEX "IX_Extra" ON "PlayerMilestones" ("AchievedAt");',
        ["index `IX_Extra` on (AchievedAt): only in SQLite, kept"],
    ),
    "extra UNIQUE index that the key covers": (
        "PlayerMilestones",
        ");",
        '); CREATE UNIQUE INDEX "UX_Extra" ON "PlayerMilestones" '
        '("Milestone", "PlayerName", "AchievedAt");',
        ["index `UX_Extra` on (Milestone, PlayerName, AchievedAt): only in SQLite, kept"],
    ),
    "lower-case types": (
        "PlayerMilestones",
        '"Milestone" INTEGER NOT NULL, "AchievedAt" TEXT NOT NULL,',
        '"Milestone" integer NOT NULL, "AchievedAt" text NOT NULL,',
        [],
    ),
    "another column order": (
        "PlayerMilestones",
        '"Milestone" INTEGER NOT NULL, "AchievedAt" TEXT NOT NULL,',
        '"AchievedAt" TEXT NOT NULL, "Milestone" INTEGER NOT NULL,',
        [
            "columns are in another order in SQLite (PlayerName, AchievedAt, Milestone, "
            "TotalKillsAtMilestone, DaysToAchieve); the backfill writes them by name"
        ],
    ),
    "an extra column between the model's is not another order": (
        "PlayerMilestones",
        '"Milestone" INTEGER NOT NULL, "AchievedAt" TEXT NOT NULL,',
        '"Milestone" INTEGER NOT NULL, "Comment" TEXT NULL, "AchievedAt" TEXT NOT NULL,',
        ["column `Comment`: only in SQLite (nullable); the backfill leaves it so"],
    ),
}


@pytest.mark.parametrize("kind", sorted(TOLERATED))
def test_harmless_differences_are_notes(tmp_path, kind):
    table, old, new, notes = TOLERATED[kind]
    path = api_database(tmp_path / "api.db", {table: (old, new)})
    before = schema_of(path)
    with closing(sqlite3.connect(path)) as conn:
        report = ensure_table(conn, hand_spec(table))
        conn.commit()
    assert (report.exists, report.ok, report.created, report.differences) == (
        True,
        True,
        False,
        [],
    )
    assert report.notes == notes
    assert report.note_lines() == [f"{table}: note: {note}" for note in notes]
    assert schema_of(path) == before
    assert row_count(path, table) == 1


class _Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_prepare_target_logs_each_note_once_and_returns_them(tmp_path):
    table, old, new, notes = TOLERATED["nullable where the model always fills it"]
    path = api_database(tmp_path / "api.db", {table: (old, new)})
    # Outside a flow run the loader logs to `progress.LOGGER_NAME`, a child of Prefect's
    # logger: listen on it directly, at INFO, once Prefect's logging configuration (which resets
    # the handlers of its loggers' children) is in place.
    progress.logger()
    records, bfstats_logger = _Records(), logging.getLogger(progress.LOGGER_NAME)
    level = bfstats_logger.level
    bfstats_logger.addHandler(records)
    bfstats_logger.setLevel(logging.INFO)
    try:
        with closing(sqlite3.connect(path, isolation_level=None)) as conn:
            report = loader.prepare_target(conn, hand_spec(table))
    finally:
        bfstats_logger.removeHandler(records)
        bfstats_logger.setLevel(level)
    assert report.notes == notes
    assert records.messages == [
        "PlayerMilestones: note: column `AchievedAt` is nullable in SQLite; the model always "
        "fills it"
    ]


def test_a_view_of_that_name_is_drift(tmp_path):
    path = tmp_path / "api.db"
    with closing(sqlite3.connect(path)) as conn:
        conn.execute('create view "PlayerMilestones" as select 1 as "PlayerName"')
        report = check(conn, hand_spec("PlayerMilestones"))
        assert report.differences == ["`PlayerMilestones` is a view, not a table"]
        with pytest.raises(SchemaDriftError):
            ensure_table(conn, hand_spec("PlayerMilestones"))


def test_missing_table_is_created_with_its_indexes_and_others_are_untouched(tmp_path):
    path = tmp_path / "api.db"
    with closing(sqlite3.connect(path)) as conn:
        conn.execute('create table "Notes" ("Id" INTEGER PRIMARY KEY, "Text" TEXT)')
        conn.execute('insert into "Notes" ("Text") values (?)', ("keep me",))
        conn.commit()
    unrelated_before = [row for row in schema_of(path) if row[2] == "Notes"]
    spec = hand_spec("ServerOnlineCounts")
    with closing(sqlite3.connect(path)) as conn:
        report = ensure_table(conn, spec)
        assert (report.exists, report.created, report.ok) == (False, True, True)
        conn.commit()
    with closing(sqlite3.connect(path)) as conn:
        indexes = conn.execute(
            'select "name" from "sqlite_master" where "type" = \'index\' '
            'and "tbl_name" = ? and "sql" is not null order by "name"',
            ("ServerOnlineCounts",),
        ).fetchall()
        assert indexes == [
            ("IX_ServerOnlineCounts_Game_HourTimestamp",),
            ("IX_ServerOnlineCounts_HourTimestamp",),
        ]
        again = check(conn, spec)
        assert (again.exists, again.ok, again.differences, again.notes) == (True, True, [], [])
        assert conn.execute('select "Text" from "Notes"').fetchall() == [("keep me",)]
    assert [row for row in schema_of(path) if row[2] == "Notes"] == unrelated_before


def test_ensure_table_leaves_the_commit_to_the_caller(tmp_path):
    path = tmp_path / "api.db"
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("begin")
        ensure_table(conn, hand_spec("PlayerMapStats"))
        assert check(conn, hand_spec("PlayerMapStats")).exists
        conn.rollback()
        assert not check(conn, hand_spec("PlayerMapStats")).exists
    assert schema_of(path) == []


def test_matching_table_is_left_as_it_is(tmp_path):
    path = api_database(tmp_path / "api.db")
    before = schema_of(path)
    with closing(sqlite3.connect(path)) as conn:
        report = ensure_table(conn, hand_spec("PlayerBestScores"))
        conn.commit()
    assert (report.exists, report.created, report.ok) == (True, False, True)
    assert schema_of(path) == before
    assert row_count(path, "PlayerBestScores") == 1


def test_existing_columns(tmp_path):
    path = api_database(tmp_path / "api.db")
    with closing(sqlite3.connect(path)) as conn:
        columns = existing_columns(conn, "PlayerServerStats")
        assert existing_columns(conn, "NoSuchTable") == []
    assert [c.name for c in columns][:3] == ["PlayerName", "ServerGuid", "TotalRounds"]
    highest = next(c for c in columns if c.name == "HighestScoreTime")
    assert (highest.declared_type, highest.not_null, highest.pk_position) == ("TEXT", False, 0)
    assert [c.pk_position for c in columns[:2]] == [1, 2]


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_report_on_a_missing_file_creates_nothing(tmp_path):
    path = tmp_path / "absent.db"
    text, ok = render(hand_catalog(), path, show_sql=False)
    assert ok
    assert text.count(": will be created") == 8
    assert "8 tables: 0 matches, 8 will be created, 0 DRIFT, 0 ERROR" in text
    assert not path.exists()


def test_report_on_the_api_database(tmp_path):
    path = api_database(tmp_path / "api.db")
    digest = _digest(path)
    text, ok = render(hand_catalog(), path, show_sql=True)
    assert ok
    assert "  PlayerMilestones (model player_milestones): matches" in text
    assert text.count(": matches") == 8
    assert 'CREATE INDEX "IX_PlayerMapStats_MapName" ON "PlayerMapStats"("MapName");' in text
    assert _digest(path) == digest


def test_report_shows_drift_and_missing_tables_without_changing_the_file(tmp_path):
    table, old, new, difference = DRIFTS["primary key order"]
    path = api_database(
        tmp_path / "api.db",
        {
            table: (old, new),
            "PlayerMilestones": (api_schema.statements_by_table()["PlayerMilestones"], ""),
        },
    )
    digest = _digest(path)
    text, ok = render(hand_catalog(), path, show_sql=False)
    assert not ok
    assert f"  {table} (model player_best_scores): DRIFT\n    - {difference}" in text
    assert "  PlayerMilestones (model player_milestones): will be created" in text
    assert "CREATE TABLE" not in text
    assert "6 matches, 1 will be created, 1 DRIFT, 0 ERROR" in text
    assert _digest(path) == digest
    assert "PlayerMilestones" not in [row[1] for row in schema_of(path)]


def test_report_on_a_file_that_is_not_a_database(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("not a database, " * 100)
    text, ok = render(hand_catalog(), path, show_sql=False)
    assert not ok
    assert "cannot read it" in text
    assert path.read_text() == "not a database, " * 100


def test_report_lists_notes_and_the_table_still_matches(tmp_path):
    path = api_database(
        tmp_path / "api.db",
        {
            "PlayerServerStats": (
                '"UpdatedAt" TEXT NOT NULL,',
                '"UpdatedAt" TEXT NOT NULL, "Comment" TEXT NULL,',
            ),
            "ServerOnlineCounts": (TOLERATED["missing index"][1], ""),
        },
    )
    digest = _digest(path)
    text, ok = render(hand_catalog(), path, show_sql=False)
    assert ok
    assert (
        "  PlayerServerStats (model player_server_stats): matches (1 note)\n"
        "    note: column `Comment`: only in SQLite (nullable); the backfill leaves it so"
    ) in text
    assert (
        "  ServerOnlineCounts (model server_online_counts): matches (1 note)\n"
        "    note: index `IX_ServerOnlineCounts_HourTimestamp` on (HourTimestamp): missing in "
        "SQLite"
    ) in text
    assert "8 tables: 8 matches, 0 will be created, 0 DRIFT, 0 ERROR" in text
    assert _digest(path) == digest
