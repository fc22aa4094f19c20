"""The `backfill` flow end to end, in this process, on the real embedded ClickHouse, a real
SQLite file and a real Prefect server: the hand-built dataset of tests/datasets.py must land in
SQLite exactly as EXPECTED, with its run metadata, and the rerun rules must hold."""

from __future__ import annotations

import json
import math
import os
import sqlite3

import datasets
import pytest
from bfstats import cli
from bfstats.catalog import pascal_case
from bfstats.flow import backfill
from bfstats.sqlite_store import RunLedger
from prefect.settings import PREFECT_API_URL, temporary_settings
from support import SERVICES

# A real Prefect server and whole flow runs: not part of the quick suite.
pytestmark = pytest.mark.slow

SOURCE_DB = "flow_raw"
MART_DB = "flow_marts"
TABLE_OF_MODEL = {
    "server_online_counts": "ServerOnlineCounts",
    "player_stats_lifetimes": "PlayerStatsLifetimes",
    "player_server_stats": "PlayerServerStats",
    "player_map_stats": "PlayerMapStats",
    "player_milestones": "PlayerMilestones",
    "player_best_scores": "PlayerBestScores",
    "server_hourly_patterns": "ServerHourlyPatterns",
    "hourly_player_predictions": "HourlyPlayerPredictions",
}


@pytest.fixture(scope="module")
def flow_setup(prefect_server):
    """Raw data in its own database, marts in another; returns a function running the flow."""
    from dbt.adapters.chdb import engine

    patch = pytest.MonkeyPatch()
    patch.setenv("BFSTATS_SOURCE_DATABASE", SOURCE_DB)
    patch.setenv("BFSTATS_CH_SCHEMA", MART_DB)
    session = engine.connect(os.environ["BFSTATS_CHDB_PATH"])
    try:
        datasets.load_raw(session, SOURCE_DB)
    finally:
        session.close()

    def run(sqlite_path, **parameters):
        parameters.setdefault("as_of", datasets.AS_OF_ISO)
        with temporary_settings({PREFECT_API_URL: prefect_server.url}):
            return backfill(sqlite_path=str(sqlite_path), return_state=True, **parameters)

    yield run
    patch.undo()


@pytest.fixture(scope="module")
def loaded(flow_setup, tmp_path_factory):
    """The whole backfill, with 2-row batches so every table takes several checkpoints."""
    db = tmp_path_factory.mktemp("flow") / "bfstats.db"
    state = flow_setup(db, services=["all"], batch_size=2)
    assert state.is_completed(), state.message
    return db


def read_table(db, table: str) -> list[dict]:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(row) for row in conn.execute(f'SELECT * FROM "{table}"')]
    finally:
        conn.close()


def ledger(db) -> RunLedger:
    return RunLedger(sqlite3.connect(db))


def same_value(actual, expected) -> bool:
    if isinstance(expected, float) or isinstance(actual, float):
        return actual is not None and math.isclose(actual, expected, rel_tol=1e-9, abs_tol=1e-9)
    return actual == expected


@pytest.mark.parametrize("model", sorted(TABLE_OF_MODEL))
def test_table_equals_the_hand_computed_rows(loaded, model):
    assert_hand_computed_rows(loaded, model)


def assert_hand_computed_rows(db, model: str) -> None:
    table = TABLE_OF_MODEL[model]
    expected = [
        {pascal_case(column): value for column, value in row.items()}
        for row in datasets.EXPECTED[model]
    ]
    actual = read_table(db, table)
    assert len(actual) == len(expected), table
    columns = list(expected[0]) if expected else []

    def key(row):
        return tuple(str(row[c]) for c in columns)

    for got, want in zip(sorted(actual, key=key), sorted(expected, key=key), strict=True):
        assert set(got) == set(want), table
        mismatched = {c: (got[c], want[c]) for c in want if not same_value(got[c], want[c])}
        assert not mismatched, f"{table} row {want}: {mismatched}"


def test_completion_is_recorded_per_service(loaded):
    report = {entry["service"]: entry for entry in ledger(loaded).status_report(SERVICES)}
    for service in SERVICES:
        entry = report[service]
        assert entry["status"] == "completed", entry
        assert entry["as_of"] == datasets.AS_OF_ISO
        assert entry["rows_written"] == entry["rows_expected"]
        assert entry["finished_at"] and entry["duration_seconds"] is not None
    player_stats_rows = sum(
        len(datasets.EXPECTED[m])
        for m in ("player_stats_lifetimes", "player_server_stats", "player_map_stats")
    )
    assert report["player-stats"]["rows_written"] == player_stats_rows


def test_no_staging_table_or_unfinished_checkpoint_is_left(loaded):
    conn = sqlite3.connect(loaded)
    names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    states = dict(conn.execute("SELECT sqlite_table, state FROM _bfstats_checkpoints"))
    conn.close()
    assert not [name for name in names if name.startswith("_bfstats_staging_")]
    assert states == dict.fromkeys(TABLE_OF_MODEL.values(), "published")


def test_status_json_lists_every_service(loaded, capsys):
    assert cli.main(["status", "--json", "--sqlite", str(loaded)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert sorted(entry["service"] for entry in report) == sorted(SERVICES)
    for entry in report:
        assert {"service", "status", "as_of", "rows_written", "rows_expected"} <= set(entry)
        assert entry["status"] == "completed"


def test_status_json_on_a_new_file_says_pending(tmp_path, capsys):
    assert cli.main(["status", "--json", "--sqlite", str(tmp_path / "new.db")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert {entry["status"] for entry in report} == {"pending"}
    assert len(report) == len(SERVICES)


def test_rerun_skips_completed_and_force_reruns_one_service(flow_setup, tmp_path):
    db = tmp_path / "rerun.db"
    assert flow_setup(db, services=["player-milestones", "player-best-scores"]).is_completed()
    before = {s: ledger(db).latest(s) for s in ("player-milestones", "player-best-scores")}

    again = flow_setup(db, services=["all"] and ["player-milestones", "player-best-scores"])
    assert again.is_completed()
    assert {r["status"] for r in again.result()} == {"skipped"}
    assert {s: ledger(db).latest(s) for s in before} == before

    forced = flow_setup(db, services=["player-milestones"], force=True)
    assert forced.is_completed()
    milestones = ledger(db).latest("player-milestones")
    assert milestones.run_id != before["player-milestones"].run_id
    assert milestones.status == "completed"
    assert ledger(db).latest("player-best-scores") == before["player-best-scores"]
    assert len(read_table(db, "PlayerMilestones")) == len(datasets.EXPECTED["player_milestones"])
    assert ledger(db).latest("server-online-counts") is None


def test_a_drifted_table_fails_its_service_only_and_keeps_its_rows(flow_setup, tmp_path):
    db = tmp_path / "drift.db"
    conn = sqlite3.connect(db)
    # The API's table, but with Rank declared TEXT: the model produces INTEGER.
    conn.executescript(
        """
        CREATE TABLE "PlayerBestScores" (
            "PlayerName" TEXT NOT NULL, "Period" TEXT NOT NULL, "Rank" TEXT NOT NULL,
            "FinalScore" INTEGER NOT NULL, "FinalKills" INTEGER NOT NULL,
            "FinalDeaths" INTEGER NOT NULL, "MapName" TEXT NOT NULL, "ServerGuid" TEXT NOT NULL,
            "RoundEndTime" TEXT NOT NULL, "RoundId" TEXT NOT NULL,
            CONSTRAINT "PK_PlayerBestScores" PRIMARY KEY ("PlayerName", "Period", "Rank"));
        INSERT INTO "PlayerBestScores" VALUES
            ('keep me', 'all_time', '1', 1, 1, 1, 'm', 's', '2024-01-01T00:00:00Z', 'r');
        """
    )
    conn.commit()
    conn.close()
    state = flow_setup(db, services=["player-best-scores", "player-milestones"])
    assert state.is_failed()
    assert "player-best-scores" in state.message and "Rank" in state.message
    failed = ledger(db).latest("player-best-scores")
    assert failed.status == "failed" and "Rank" in failed.error
    assert ledger(db).latest("player-milestones").status == "completed"
    assert [row["PlayerName"] for row in read_table(db, "PlayerBestScores")] == ["keep me"]


def test_missing_source_tables_fail_with_the_table_and_database(
    flow_setup, tmp_path, monkeypatch, prefect_server, capsys
):
    monkeypatch.setenv("BFSTATS_SOURCE_DATABASE", "no_such_database")
    with temporary_settings({PREFECT_API_URL: prefect_server.url}):
        code = cli.main(
            [
                "backfill",
                "player-milestones",
                "--sqlite",
                str(tmp_path / "x.db"),
                "--as-of",
                datasets.AS_OF_ISO,
            ]
        )
    assert code == 1
    error = capsys.readouterr().err
    assert "no_such_database.player_rounds" in error
    assert "bfstats generate" in error


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["backfill", "player-stat"], "unknown service 'player-stat'"),
        (["backfill", "all", "--as-of", "13/03/2024"], "is not an ISO 8601 instant"),
        (["backfill", "all", "--sqlite", "/proc/no/such/dir/x.db"], "cannot create the folder"),
    ],
)
def test_cli_rejects_bad_input_before_running(arguments, message, capsys):
    assert cli.main(arguments) == 2
    assert message in capsys.readouterr().err


def test_cli_rejects_a_batch_size_below_one(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["backfill", "all", "--batch-size", "0"])
    assert exit_info.value.code == 2
    assert "must be at least 1" in capsys.readouterr().err


def test_cli_rejects_a_sqlite_path_that_is_a_directory(tmp_path, capsys):
    assert cli.main(["backfill", "all", "--sqlite", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err


def schema_objects(db) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(
            "SELECT type, name, tbl_name, sql FROM sqlite_master "
            "WHERE substr(tbl_name, 1, 9) != '_bfstats_' ORDER BY type, name"
        ).fetchall()
    finally:
        conn.close()


def test_backfill_into_the_apis_own_tables_keeps_their_schema(flow_setup, tmp_path):
    import api_schema

    db = tmp_path / "api.db"
    api_schema.create(db)
    conn = sqlite3.connect(db)
    conn.executescript(
        """
        CREATE TABLE "Players" ("Id" INTEGER NOT NULL CONSTRAINT "PK_Players" PRIMARY KEY,
                                "Name" TEXT NOT NULL);
        CREATE INDEX "IX_Players_Name" ON "Players" ("Name");
        INSERT INTO "Players" VALUES (1, 'alice'), (2, 'bob');
        INSERT INTO "__EFMigrationsHistory" VALUES ('20240101000000_Analytics', '8.0.0');
        """
    )
    conn.commit()
    conn.close()
    before = schema_objects(db)
    history = read_table(db, "__EFMigrationsHistory")

    state = flow_setup(db, services=["all"])
    assert state.is_completed(), state.message

    assert schema_objects(db) == before  # same tables, same indexes, same CREATE statements
    assert read_table(db, "Players") == [{"Id": 1, "Name": "alice"}, {"Id": 2, "Name": "bob"}]
    assert len(history) == 2  # the API file's own row and this test's
    assert read_table(db, "__EFMigrationsHistory") == history
    for model, table in TABLE_OF_MODEL.items():
        assert len(read_table(db, table)) == len(datasets.EXPECTED[model]), table
    indexes = {row[1] for row in before if row[0] == "index" and row[3]}
    assert "IX_ServerOnlineCounts_Game_HourTimestamp" in indexes


def test_schema_command_prints_ddl_and_reports_drift_without_writing(tmp_path, capsys):
    fresh = tmp_path / "fresh.db"
    assert cli.main(["schema", "--sqlite", str(fresh), "--sql"]) == 0
    out = capsys.readouterr().out
    assert 'CREATE TABLE "ServerOnlineCounts"' in out
    assert "IX_ServerOnlineCounts_Game_HourTimestamp" in out
    assert not fresh.exists()

    drifted = tmp_path / "drifted.db"
    conn = sqlite3.connect(drifted)
    conn.execute('CREATE TABLE "PlayerMilestones" ("PlayerName" TEXT NOT NULL)')
    conn.commit()
    conn.close()
    before = drifted.read_bytes()
    assert cli.main(["schema", "--sqlite", str(drifted)]) == 1
    out = capsys.readouterr().out
    assert "PlayerMilestones" in out and "Milestone" in out
    assert drifted.read_bytes() == before


def test_one_service_into_a_fresh_mart_database(flow_setup, tmp_path, monkeypatch):
    # Only player-stats' models exist afterwards; tests that also read other marts must not run.
    monkeypatch.setenv("BFSTATS_CH_SCHEMA", "flow_marts_player_stats_only")
    db = tmp_path / "one.db"
    state = flow_setup(db, services=["player-stats"])
    assert state.is_completed(), state.message
    assert len(read_table(db, "PlayerStatsLifetimes")) == len(
        datasets.EXPECTED["player_stats_lifetimes"]
    )


def test_a_build_does_not_wait_for_the_sqlite_write_lock_to_record_itself(loaded, tmp_path):
    """The next build starts while a load or a publish holds the write lock: the build's record
    is written in the background, and the mart's test step waits for it."""
    from contextlib import closing

    from bfstats import catalog, config
    from bfstats.flow import RunSettings, Unwalked, build_or_reuse
    from bfstats.sqlite_store import Builds, connect
    from lock_holders import Holder

    db = tmp_path / "records.db"
    connect(db).close()  # the file and its metadata tables, as the flow's first step leaves them
    run = RunSettings(
        as_of=datasets.AS_OF_ISO,
        sqlite_path=str(db),
        batch_size=1000,
        allow_shrink=False,
        target=config.load_target(),
        run_ids={"player-milestones": "run-records"},
        parsed=Unwalked(catalog.load().manifest),
        reuse_marts=False,
        build_run_id="run-records",
        spans={},
    )
    with Holder("write", db, 120) as holder:
        built = build_or_reuse(
            "player_milestones", ["model.bfstats.player_milestones"], run, lambda: None, False
        )
        # Returned while the other process still holds the write lock.
        assert holder.process.poll() is None
        assert built.recording is not None and not built.recording.value.done()
        with closing(sqlite3.connect(db)) as reader:
            assert Builds(reader).get("player_milestones") is None
    built.recorded()  # the holder is gone: the record lands
    with closing(sqlite3.connect(db)) as reader:
        record = Builds(reader).get("player_milestones")
    assert (record.run_id, record.as_of, record.tested_at) == ("run-records", run.as_of, None)


def in_two_parts(monkeypatch) -> None:
    """server_online_counts builds in two parts, cut between the dataset's servers srv-1 and
    srv-2 (the dataset's raw table is a single granule: its index alone cuts nothing)."""
    from bfstats import build_parts

    def plan(manifest, model, unique_id, source):
        return build_parts.ranges(["srv-1", "srv-2"], 2) if model == "server_online_counts" else []

    monkeypatch.setattr(build_parts, "plan", plan)


def test_a_mart_built_in_parts_loads_part_after_part_and_equals_the_hand_computed_rows(
    flow_setup, tmp_path, monkeypatch
):
    in_two_parts(monkeypatch)
    db = tmp_path / "parts.db"
    state = flow_setup(
        db, services=["server-online-counts", "server-hourly-patterns"], batch_size=2
    )
    assert state.is_completed(), state.message
    # Both parts in the table, and the pattern mart (which reads it) built after the last one.
    assert_hand_computed_rows(db, "server_online_counts")
    assert_hand_computed_rows(db, "server_hourly_patterns")
    (fingerprint,) = query_one(
        db, "SELECT fingerprint FROM _bfstats_builds WHERE model = ?", ("server_online_counts",)
    )
    assert '"partial"' not in fingerprint  # the whole build's record replaced the first part's


def test_a_part_that_fails_to_build_fails_its_service_publishes_nothing_and_others_go_on(
    flow_setup, tmp_path, monkeypatch
):
    """The second part's append fails in ClickHouse (its table was dropped after the first
    part): the load, which waits for it, fails with the reason; nothing is published."""
    from bfstats import marts
    from dbt.adapters.chdb import engine

    in_two_parts(monkeypatch)
    real_build = marts.build

    def build(mart, as_of, target=None, part=None):
        if part is not None and not part.first:
            session = engine.connect(os.environ["BFSTATS_CHDB_PATH"])
            try:
                session.query(f"drop table {MART_DB}.server_online_counts")
            finally:
                session.close()
        return real_build(mart, as_of, target, part)

    monkeypatch.setattr(marts, "build", build)
    db = tmp_path / "part-fails.db"
    state = flow_setup(db, services=["server-online-counts", "player-milestones"], batch_size=2)
    assert state.is_failed()
    failed = ledger(db).latest("server-online-counts")
    assert failed.status == "failed"
    assert "dbt could not build the mart server_online_counts (its part 'srv-2' <= value" in (
        failed.error
    )
    assert "does not exist" in failed.error
    assert ledger(db).latest("player-milestones").status == "completed"
    assert query_one(db, "SELECT count(*) FROM ServerOnlineCounts") == (0,)
    assert query_one(
        db, "SELECT state FROM _bfstats_checkpoints WHERE sqlite_table = ?", ("ServerOnlineCounts",)
    ) == ("loading",)


def query_one(db, sql: str, parameters: tuple = ()) -> tuple:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql, parameters).fetchone()
    finally:
        conn.close()
