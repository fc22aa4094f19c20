"""Metadata that can evolve: schema versions and ordered migrations of the `_bfstats_*` tables.

`tests/fixtures/metadata_v1.sql` is a file written by the previous version of bfstats (one
service completed, one killed mid-load; see tests/fixtures/README.md). It must be upgraded in
place with every row intact, and a real backfill must then resume from it."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from bfstats import cli
from bfstats.sqlite_store import (
    LATEST_VERSION,
    Builds,
    Checkpoints,
    MetadataTooNewError,
    RunLedger,
    SqliteTargetError,
    connect,
    connect_read_only,
    schema_version,
)
from bfstats.sqlite_store.metadata import history
from support import bfstats, isolated_env, query

FIXTURE = Path(__file__).parent / "fixtures" / "metadata_v1.sql"
V1_TABLES = ("_bfstats_runs", "_bfstats_checkpoints")
# What the fixture holds (tests/fixtures/README.md).
COMPLETED_RUN = "9975a2aaab314616"  # player-milestones
INTERRUPTED_RUN = "859456a29405451e"  # server-hourly-patterns, 118 of 1,680 rows
FIXTURE_AS_OF = "2025-12-31T00:00:00Z"


def restore_v1(db: Path) -> Path:
    conn = sqlite3.connect(db)
    conn.executescript(FIXTURE.read_text())
    conn.close()
    return db


def all_rows(db: Path, table: str) -> list[dict]:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(row) for row in conn.execute(f'SELECT * FROM "{table}" ORDER BY rowid')]
    finally:
        conn.close()


def data_tables(db: Path) -> list[str]:
    """Every table but the metadata ones: the API's tables and the staging table."""
    conn = sqlite3.connect(db)
    try:
        names = [
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        ]
    finally:
        conn.close()
    return sorted(set(names) - {*V1_TABLES, "_bfstats_schema", "_bfstats_builds"})


def test_the_fixture_is_a_version_1_file(tmp_path):
    db = restore_v1(tmp_path / "v1.db")
    conn = sqlite3.connect(db)
    assert schema_version(conn) == 1
    assert not conn.execute("SELECT 1 FROM sqlite_master WHERE name = '_bfstats_schema'").fetchall()
    conn.close()


def test_a_version_1_file_is_upgraded_in_place_keeping_every_row(tmp_path):
    db = restore_v1(tmp_path / "v1.db")
    before = {table: all_rows(db, table) for table in (*V1_TABLES, *data_tables(db))}
    assert "_bfstats_staging_ServerHourlyPatterns" in before

    conn = connect(db)

    assert schema_version(conn) == LATEST_VERSION == 2
    assert [entry["version"] for entry in history(conn)] == [1, 2]
    assert "before versions" in history(conn)[0]["description"]
    runs = all_rows(db, "_bfstats_runs")
    assert len(runs) == len(before["_bfstats_runs"])
    for old, new in zip(before["_bfstats_runs"], runs, strict=True):
        assert {key: new[key] for key in old} == old  # every v1 column, same value
        assert new["host"] is None and new["pid"] is None
        assert new["updated_at"] == (old["finished_at"] or old["started_at"])
    for table in before:
        if table != "_bfstats_runs":
            assert all_rows(db, table) == before[table], table

    # Read by the new code, by column name.
    ledger = RunLedger(conn)
    completed = ledger.latest("player-milestones")
    assert (completed.run_id, completed.status, completed.rows_written) == (
        COMPLETED_RUN,
        "completed",
        18,
    )
    interrupted = ledger.latest("server-hourly-patterns")
    assert (interrupted.run_id, interrupted.status, interrupted.as_of) == (
        INTERRUPTED_RUN,
        "running",
        FIXTURE_AS_OF,
    )
    point = Checkpoints(conn).get("ServerHourlyPatterns")
    assert (point.state, point.rows_written, point.rows_expected) == ("loading", 118, 1680)
    assert point.last_key == ["09cebb34-e9ae-642b-b20b-18c2bec71a0e", 4, 21]

    # What version 2 adds works on the upgraded file.
    assert ledger.interrupt(INTERRUPTED_RUN, ["server-hourly-patterns"], "SIGTERM") == 1
    assert ledger.latest("server-hourly-patterns").status == "interrupted"
    Builds(conn).record("server_hourly_patterns", run_id="r", as_of="a", fingerprint={"k": 1})
    assert Builds(conn).get("server_hourly_patterns").fingerprint == {"k": 1}
    conn.close()


def test_opening_again_applies_nothing_twice(tmp_path):
    db = tmp_path / "new.db"
    connect(db).close()
    conn = connect(db)
    first = history(conn)
    conn.close()
    conn = connect(db)
    assert history(conn) == first
    assert [entry["version"] for entry in first] == [1, 2]
    conn.close()


def test_runs_are_read_by_column_name_whatever_the_column_order(tmp_path):
    # A v1 table whose columns are in another order (as a hand-made or rebuilt table might be).
    db = tmp_path / "reordered.db"
    conn = sqlite3.connect(db)
    conn.executescript(
        """
        CREATE TABLE "_bfstats_runs" (
            "attempts" INTEGER NOT NULL DEFAULT 1, "error" TEXT, "flow_run_id" TEXT,
            "duration_seconds" REAL, "finished_at" TEXT, "started_at" TEXT NOT NULL,
            "rows_written" INTEGER NOT NULL DEFAULT 0, "rows_expected" INTEGER,
            "as_of" TEXT NOT NULL, "status" TEXT NOT NULL, "service" TEXT NOT NULL,
            "run_id" TEXT NOT NULL, PRIMARY KEY ("run_id", "service"));
        INSERT INTO "_bfstats_runs" ("run_id", "service", "status", "as_of", "rows_expected",
            "rows_written", "started_at", "finished_at", "duration_seconds", "error",
            "flow_run_id", "attempts")
        VALUES ('r1', 'player-stats', 'failed', '2025-01-01T00:00:00Z', 10, 4,
            '2025-01-02T00:00:00Z', '2025-01-02T00:01:00Z', 60.0, 'boom', 'f1', 3);
        """
    )
    conn.close()
    expected = {
        "run_id": "r1",
        "service": "player-stats",
        "status": "failed",
        "as_of": "2025-01-01T00:00:00Z",
        "rows_expected": 10,
        "rows_written": 4,
        "error": "boom",
        "flow_run_id": "f1",
        "attempts": 3,
    }
    read_only = connect_read_only(db)  # read as it is, version 1
    record = RunLedger(read_only).latest("player-stats").as_dict()
    assert {key: record[key] for key in expected} == expected
    read_only.close()
    conn = connect(db)  # migrated: copied by name
    record = RunLedger(conn).latest("player-stats").as_dict()
    assert {key: record[key] for key in expected} == expected
    conn.close()


def test_a_migration_that_fails_leaves_the_file_as_it_was(tmp_path):
    db = restore_v1(tmp_path / "v1.db")
    raw = sqlite3.connect(db)
    raw.execute('CREATE TABLE "_bfstats_runs_v2" ("in the way" TEXT)')  # blocks version 2
    raw.commit()
    raw.close()
    before = {table: all_rows(db, table) for table in V1_TABLES}
    with pytest.raises(SqliteTargetError) as raised:
        connect(db)
    message = str(raised.value)
    assert str(db) in message and "version 2" in message and "unchanged" in message
    conn = sqlite3.connect(db)
    assert schema_version(conn) == 1  # not even the version table was left behind
    assert not conn.execute("SELECT 1 FROM sqlite_master WHERE name = '_bfstats_schema'").fetchall()
    conn.close()
    assert {table: all_rows(db, table) for table in V1_TABLES} == before


@pytest.mark.slow  # parses the dbt project (the catalog) in this process
def test_a_file_from_a_newer_bfstats_is_refused_and_left_alone(tmp_path, capsys):
    db = tmp_path / "future.db"
    connect(db).close()
    raw = sqlite3.connect(db)
    raw.execute(
        "INSERT INTO _bfstats_schema VALUES (?, '2030-01-01T00:00:00Z', 'from the future')",
        (LATEST_VERSION + 1,),
    )
    raw.commit()
    raw.close()
    before = db.read_bytes()
    for open_it in (connect, connect_read_only):
        with pytest.raises(MetadataTooNewError) as raised:
            open_it(db)
        message = str(raised.value)
        assert "newer bfstats" in message and "Upgrade bfstats" in message and str(db) in message
        assert f"version {LATEST_VERSION + 1}" in message
    assert db.read_bytes() == before
    assert cli.main(["status", "--sqlite", str(db)]) == 1
    assert "newer bfstats" in capsys.readouterr().err


@pytest.mark.slow
def test_processes_opening_a_v1_file_at_once_migrate_it_once(tmp_path):
    db = restore_v1(tmp_path / "v1.db")
    script = "import sys; from bfstats.sqlite_store import connect; connect(sys.argv[1]).close()"
    processes = [
        subprocess.Popen([sys.executable, "-c", script, str(db)], stderr=subprocess.PIPE)
        for _ in range(4)
    ]
    for process in processes:
        assert process.wait(timeout=120) == 0, process.stderr.read()
        process.stderr.close()
    conn = sqlite3.connect(db)
    assert [row[0] for row in conn.execute("SELECT version FROM _bfstats_schema")] == [1, 2]
    assert conn.execute("SELECT count(*) FROM _bfstats_runs").fetchone() == (2,)
    conn.close()


@pytest.mark.slow
def test_a_backfill_resumes_the_interrupted_service_of_a_v1_file(prefect_server, tmp_path):
    """Today's CLI on the previous version's file: the completed service is skipped, the killed
    one resumes with the same run id and as_of. Its 118 committed rows are loaded again: a v1
    file records nothing of the mart build they came from, and a resume continues a load only
    from a build it can prove unchanged (the rule of mart_state)."""
    env = {**isolated_env(tmp_path), **prefect_server.env()}
    generated = bfstats(
        "generate",
        *("--scale", "0.01", "--seed", "7", "--end-time", "2026-01-01T00:00:00Z", "--replace"),
        env=env,
    )
    assert generated.returncode == 0, generated.stdout[-2000:] + generated.stderr[-2000:]
    db = restore_v1(tmp_path / "v1.db")
    completed_before = all_rows(db, "_bfstats_runs")[0]

    result = bfstats(
        "backfill", "player-milestones", "server-hourly-patterns", "--sqlite", str(db), env=env
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    runs = {row["service"]: row for row in all_rows(db, "_bfstats_runs")}
    assert len(runs) == 2
    assert {key: runs["player-milestones"][key] for key in completed_before} == completed_before
    resumed = runs["server-hourly-patterns"]
    assert (resumed["run_id"], resumed["status"], resumed["as_of"], resumed["attempts"]) == (
        INTERRUPTED_RUN,
        "completed",
        FIXTURE_AS_OF,
        2,
    )
    assert resumed["rows_written"] == resumed["rows_expected"] == 1680
    assert resumed["pid"] is not None and resumed["host"]
    point = query(
        db,
        "SELECT state, resumed_from, rows_read, rows_written FROM _bfstats_checkpoints "
        "WHERE sqlite_table = 'ServerHourlyPatterns'",
    )
    assert point == [("published", 0, 1680, 1680)]
    again = (
        "ServerHourlyPatterns: loading it again from the start "
        "(its 118 rows came from the earlier build of server_hourly_patterns)"
    )
    assert again in result.stdout + result.stderr
    assert query(db, 'SELECT count(*) FROM "ServerHourlyPatterns"') == [(1680,)]
    assert query(db, 'SELECT count(*) FROM "PlayerMilestones"') == [(18,)]
    assert not query(db, "SELECT name FROM sqlite_master WHERE name LIKE '%staging%'")
