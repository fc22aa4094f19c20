"""Faults a user meets with real data, each through the real `bfstats` CLI in another process
(issue 7, part 3; issue 8's failing data test and parse-once; issue 9's one clear failure):

- an empty or out-of-range source on a populated file is refused per table, naming both counts,
  and changes nothing; `--allow-shrink` publishes it; a future `--as-of` and a bad
  BFSTATS_MIN_ROW_FRACTION are usage errors that touch nothing;
- an explicit `--as-of` other than a completed run's runs every service again;
- an engine directory held by another process fails every selected service with that reason;
- missing source tables are explained once; a successful run prints no noise, and ends
  its process at once after its last logs reached the Prefect API;
- a failing ClickHouse data test fails its service and publishes nothing, the others complete;
- a failing service read back through the Prefect API: one ERROR record without traceback, the
  final state message, the summary artifact, deterministic task run names;
- a second process parses the dbt project partially, whatever its `as_of`.

One generated dataset and one reference run (`backfill all` as a user runs it, with the
temporary Prefect server) serve every test; the other runs use the session's Prefect server.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import sqlite3
import time
from datetime import UTC, datetime

import pytest
from support import (
    REPO,
    SERVICES,
    TABLES,
    EngineHolder,
    PrefectApi,
    bfstats,
    checkpoint,
    clickhouse_sql,
    copy_db,
    flow_run_id,
    generated_workdir,
    query,
    table_difference,
)

pytestmark = pytest.mark.slow
# The generated data ends now; an instant inside it, fixed for every run of this module.
AS_OF = datetime.now(UTC).replace(minute=0, second=0).strftime("%Y-%m-%dT%H:%M:%SZ")
BEFORE_THE_DATA = "1990-01-01T00:00:00Z"
# What a successful run printed at shutdown before (issue 7, "Messages").
NOISE = ("sqlalchemy", "CancelledError", "Error logging to API", "Traceback", "| ERROR")


@pytest.fixture(scope="module")
def work(prefect_server, tmp_path_factory):
    work = tmp_path_factory.mktemp("faults")
    return work, generated_workdir(work, prefect_server, seed=5)


def parse_env(env: dict, work, log_folder: str) -> dict:
    """A dbt target folder that only the runs of the parse-once test use, each run with its
    own dbt log folder (dbt appends to dbt.log)."""
    return {
        **env,
        "DBT_TARGET_PATH": str(work / "target-parse-once"),
        "DBT_LOG_PATH": str(work / log_folder),
    }


@pytest.fixture(scope="module")
def reference(work):
    """`backfill all` as a user runs it: no PREFECT_API_URL (bfstats starts its temporary
    server), into a new file, in a dbt target folder no run has parsed into."""
    work, env = work
    env = {**parse_env(env, work, "logs-reference"), "PREFECT_HOME": str(work / "prefect-home")}
    env.pop("PREFECT_API_URL")
    db = work / "reference.db"
    result = bfstats("backfill", "all", "--as-of", AS_OF, "--sqlite", str(db), env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    counts = {table: query(db, f'SELECT count(*) FROM "{table}"')[0][0] for table in TABLES}
    assert all(counts.values()), counts
    return db, counts, result


def latest_runs(db) -> dict[str, tuple]:
    """service -> (status, as_of, error) of its latest run."""
    rows = query(
        db,
        "SELECT service, status, as_of, error FROM _bfstats_runs AS r WHERE started_at = "
        "(SELECT max(started_at) FROM _bfstats_runs WHERE service = r.service)",
    )
    return {service: (status, as_of, error) for service, status, as_of, error in rows}


def assert_unchanged(db, reference_db, counts) -> None:
    for table, count in counts.items():
        assert table_difference(db, reference_db, table) == (count, count, 0, 0), table


def test_a_successful_run_prints_no_noise(reference):
    _, _, result = reference
    output = result.stdout + result.stderr
    for text in NOISE:
        assert text not in output, f"{text!r} in the output of a successful run"
    assert "6 of 6 services completed" in result.stderr


def test_a_completed_backfill_ends_its_process_after_sending_its_last_logs(work, prefect_server):
    """A completed backfill ends its process without the interpreter's teardown (cli
    `_end_process`), but only after Prefect's workers sent what they held: with a running
    server, the run's last records are in the API (without the drain, most of a short run's
    records were lost). Nothing is left open: no WAL beside the file, no leaked semaphores, and
    the next command opens the engine's directory."""
    work, env = work
    db = work / "ends-at-once.db"
    arguments = ("backfill", "player-milestones", "--as-of", AS_OF, "--sqlite", str(db))
    result = bfstats(*arguments, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    # Before anything here opens the file (a read-only connection leaves its own -wal, -shm).
    assert not [path.name for path in work.glob("ends-at-once.db-*")]
    assert "leaked semaphore" not in result.stderr
    messages = [record.message for record in PrefectApi(prefect_server).logs(flow_run_id(db))]
    assert "1 of 1 services completed" in messages, messages[-5:]
    assert messages[-1] == "Finished in state Completed()", messages[-5:]
    again = bfstats(*arguments, "--force", env=env)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]


def test_the_embedded_engine_yields_the_cpu_to_the_loads(reference):
    _, _, result = reference
    assert "Embedded ClickHouse threads run at nice 10 (BFSTATS_CLICKHOUSE_NICE)" in (
        result.stdout + result.stderr
    )


@pytest.fixture(scope="module")
def truncated_source(work):
    """A copy of the raw tables in another database, then TRUNCATEd: the source of a run
    whose raw data is gone (the generated tables themselves stay for the other tests)."""
    _, env = work
    statements = ["CREATE DATABASE truncated_raw"]
    for table in ("player_rounds", "server_online_counts"):
        statements += [
            f"CREATE TABLE truncated_raw.{table} AS default.{table}",
            f"INSERT INTO truncated_raw.{table} SELECT * FROM default.{table}",
            f"TRUNCATE TABLE truncated_raw.{table}",
        ]
    clickhouse_sql(env, *statements)
    # Marts of their own: the empty marts must not replace the ones other tests read.
    return {**env, "BFSTATS_SOURCE_DATABASE": "truncated_raw", "BFSTATS_CH_SCHEMA": "truncated"}


def test_truncated_raw_tables_are_refused_per_table_unless_allowed_to_shrink(
    work, reference, truncated_source
):
    work, _ = work
    reference_db, counts, _ = reference
    db = copy_db(reference_db, work / "truncated.db")

    refused = bfstats(
        "backfill", "all", "--force", "--as-of", AS_OF, "--sqlite", str(db), env=truncated_source
    )
    assert refused.returncode == 1, refused.stdout[-3000:] + refused.stderr[-3000:]
    for table, count in counts.items():
        assert f"SQLite table {table} would shrink from {count:,} rows to 0 " in refused.stderr
    assert "--allow-shrink" in refused.stderr
    assert_unchanged(db, reference_db, counts)
    assert {status for status, _, _ in latest_runs(db).values()} == {"failed"}

    allowed = bfstats(
        "backfill",
        *("all", "--force", "--allow-shrink", "--as-of", AS_OF, "--sqlite", str(db)),
        env=truncated_source,
    )
    assert allowed.returncode == 0, allowed.stdout[-3000:] + allowed.stderr[-3000:]
    for table in TABLES:
        assert query(db, f'SELECT count(*) FROM "{table}"') == [(0,)], table
    assert {status for status, _, _ in latest_runs(db).values()} == {"completed"}


@pytest.fixture(scope="module")
def before_the_data(work, reference):
    """An explicit --as-of before the data (and other than the completed runs'), without
    --force, on a copy of the reference file; parsed in the reference run's dbt target folder."""
    work, env = work
    reference_db, _, _ = reference
    db = copy_db(reference_db, work / "before-the-data.db")
    result = bfstats(
        "backfill",
        *("all", "--as-of", BEFORE_THE_DATA, "--sqlite", str(db)),
        env=parse_env(env, work, "logs-before-the-data"),
    )
    return db, result


def test_an_as_of_before_the_data_is_refused_per_table(reference, before_the_data):
    reference_db, counts, _ = reference
    db, result = before_the_data
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]
    for table, count in counts.items():
        assert f"SQLite table {table} would shrink from {count:,} rows to 0 " in result.stderr
    assert f"for as_of {BEFORE_THE_DATA}" in result.stderr
    assert_unchanged(db, reference_db, counts)


def test_an_explicit_as_of_other_than_the_completed_runs_runs_every_service(before_the_data):
    db, result = before_the_data
    runs = latest_runs(db)
    assert sorted(runs) == sorted(SERVICES)
    for service, (status, as_of, error) in runs.items():
        # Not skipped as "completed earlier": each service ran with the new as_of (and met
        # the shrink guard).
        assert (status, as_of) == ("failed", BEFORE_THE_DATA), service
        assert "would shrink" in error, service
    assert "skipped" not in result.stderr


def test_a_second_process_parses_the_project_partially_with_a_new_as_of(
    work, reference, before_the_data
):
    work, _ = work
    first = (work / "logs-reference" / "dbt.log").read_text()
    second = (work / "logs-before-the-data" / "dbt.log").read_text()
    # The reference run was the first to parse in that target folder ...
    assert "Unable to do partial parsing because saved manifest not found" in first
    # ... and the next process, with another as_of, reused its parse.
    assert "Unable to do partial parsing" not in second
    assert "Partial parsing enabled" in second


def tree(folder) -> dict[str, int]:
    return {
        str(path.relative_to(folder)): path.stat().st_size
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


@pytest.mark.parametrize(
    ("arguments", "extra_env", "message"),
    [
        (["--as-of", "2099-01-01"], {}, "--as-of 2099-01-01T00:00:00Z is in the future"),
        (
            ["--as-of", AS_OF],
            {"BFSTATS_MIN_ROW_FRACTION": "1.5"},
            "BFSTATS_MIN_ROW_FRACTION is '1.5'; give a number from 0 to 1",
        ),
        (
            ["--as-of", AS_OF],
            {"BFSTATS_CLICKHOUSE_NICE": "20"},
            "BFSTATS_CLICKHOUSE_NICE='20' is not a nice value from 0 to 19",
        ),
    ],
    ids=["future-as-of", "min-row-fraction-above-1", "clickhouse-nice-above-19"],
)
def test_usage_errors_exit_2_at_once_and_touch_nothing(
    work, reference, arguments, extra_env, message
):
    work, env = work
    reference_db, _, _ = reference
    folder = work / f"usage-{'-'.join(extra_env) or 'as-of'}"
    folder.mkdir()
    db = copy_db(reference_db, folder / "bfstats.db")
    before = tree(folder), db.read_bytes()
    started = time.monotonic()
    result = bfstats(
        "backfill",
        *("all", "--force", *arguments, "--sqlite", str(db)),
        env={**env, **extra_env},
    )
    seconds = time.monotonic() - started
    assert result.returncode == 2, result.stdout[-3000:] + result.stderr[-3000:]
    (line,) = result.stderr.splitlines()  # one line, no traceback
    assert line.startswith("bfstats: error: ") and message in line, result.stderr
    # Before dbt parses or Prefect starts (either alone takes several seconds).
    assert seconds < 10, f"{seconds:.1f}s"
    assert (tree(folder), db.read_bytes()) == before


def test_a_held_engine_directory_fails_every_selected_service_with_the_reason(work):
    work, env = work
    db = work / "engine-held" / "bfstats.db"  # in a folder that does not exist yet
    engine_dir = env["BFSTATS_CHDB_PATH"]
    selected = ["server-online-counts", "player-milestones"]
    with EngineHolder(env):
        result = bfstats("backfill", *selected, "--as-of", AS_OF, "--sqlite", str(db), env=env)
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]
    closing = [line for line in result.stderr.splitlines() if line.startswith("bfstats:")]
    assert len(closing) == 1, result.stderr
    assert f"data directory {engine_dir} is in use by another process" in closing[0]
    assert "Traceback" not in result.stderr

    status = bfstats("status", "--json", "--sqlite", str(db), env=env)
    assert status.returncode == 0, status.stderr
    report = {entry["service"]: entry for entry in json.loads(status.stdout)}
    for service in SERVICES:
        entry = report[service]
        if service in selected:
            assert entry["status"] == "failed", entry
            assert f"data directory {engine_dir} is in use" in entry["error"], entry
        else:
            assert entry["status"] == "pending", entry


def test_missing_source_tables_are_explained_once(work):
    work, env = work
    result = bfstats(
        "backfill",
        *("all", "--as-of", AS_OF, "--sqlite", str(work / "missing-source.db")),
        env={**env, "BFSTATS_SOURCE_DATABASE": "nonexistent"},
    )
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]
    # The run's log, then the closing message: each says it once, not once per service.
    log, _, closing = result.stderr.partition("bfstats: backfill failed:")
    assert closing, result.stderr
    assert log.count("bfstats generate") == 1, log
    assert closing.count("bfstats generate") == 1, closing
    assert closing.count("nonexistent.player_rounds") == 1, closing
    assert "Traceback" not in result.stderr


def copy_project(folder):
    """The dbt project's files (what `bfstats` reads through BFSTATS_PROJECT_DIR)."""
    folder.mkdir()
    for name in ("dbt_project.yml", "profiles.yml.example", "models", "macros", "seeds"):
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, folder / name)
        else:
            shutil.copy(source, folder / name)
    shutil.copytree(REPO / "tests" / "dbt", folder / "tests" / "dbt")
    shutil.copytree(REPO / "sqlite_checks", folder / "sqlite_checks")
    return folder


def test_a_failing_data_test_fails_its_service_and_publishes_nothing(work, reference):
    """A singular dbt test of player_best_scores that finds rows, in a copy of the project:
    ClickHouse runs it while the mart's rows stream into staging; the table is not published,
    and the other service completes."""
    work, env = work
    reference_db, _, _ = reference
    project = copy_project(work / "project-with-a-failing-test")
    (project / "tests" / "dbt" / "player_best_scores_fails_on_purpose.sql").write_text(
        "-- Fails on purpose (tests/test_fault_runs.py): every rank-1 row is a failure.\n"
        "select player_name from {{ ref('player_best_scores') }} where rank = 1\n"
    )
    db = work / "failing-test.db"
    result = bfstats(
        "backfill",
        *("player-best-scores", "player-milestones", "--as-of", AS_OF, "--sqlite", str(db)),
        env={
            **env,
            "BFSTATS_PROJECT_DIR": str(project),
            "DBT_TARGET_PATH": str(work / "target-failing-test"),
            "DBT_LOG_PATH": str(work / "logs-failing-test"),
        },
    )
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]
    closing = result.stderr.partition("bfstats: backfill failed:")[2]
    assert closing.splitlines()[0].strip() == (
        "1 of 2 services completed; player-best-scores failed: ClickHouse data tests failed"
    ), closing
    assert "player_best_scores_fails_on_purpose" in closing

    runs = latest_runs(db)
    assert runs["player-best-scores"][0] == "failed"
    assert runs["player-milestones"][0] == "completed"
    # Loaded in parallel with the tests, then held back: staged in full, never published.
    state, written, expected, _, _ = checkpoint(db, "PlayerBestScores")
    assert state == "loading" and written == expected > 0
    assert query(db, 'SELECT count(*) FROM "PlayerBestScores"') == [(0,)]
    assert query(db, 'SELECT count(*) FROM "_bfstats_staging_PlayerBestScores"') == [(expected,)]
    count, reference_count, only_here, only_there = table_difference(
        db, reference_db, "PlayerMilestones"
    )
    assert (count, only_here, only_there) == (reference_count, 0, 0)


# The task runs of a flow run: these names exactly, plus " (retry N)" on a retry.
TASK_RUN_NAME = re.compile(
    r"(describe project|build seeds|check across tables"
    r"|(build|test) [a-z_]+|build [a-z_]+ \(other parts\)|(load|publish|check) [A-Za-z]+)"
    r"( \(retry \d+\))?"
)


@pytest.fixture(scope="module")
def drifted(work):
    """`backfill all` into a file whose PlayerMilestones declares `Milestone` TEXT (the model
    produces an integer), with the session's Prefect server."""
    work, env = work
    db = work / "drifted.db"
    conn = sqlite3.connect(db)
    conn.executescript(
        """
        CREATE TABLE "PlayerMilestones" (
            "PlayerName" TEXT NOT NULL, "Milestone" TEXT NOT NULL, "AchievedAt" TEXT NOT NULL,
            "TotalKillsAtMilestone" INTEGER NOT NULL, "DaysToAchieve" INTEGER NOT NULL,
            CONSTRAINT "PK_PlayerMilestones" PRIMARY KEY ("PlayerName", "Milestone"));
        INSERT INTO "PlayerMilestones" VALUES ('keep me', '5000', '2024-01-01T00:00:00Z', 5000, 1);
        """
    )
    conn.commit()
    conn.close()
    result = bfstats("backfill", "all", "--as-of", AS_OF, "--sqlite", str(db), env=env)
    return db, result


def test_a_failing_service_reads_clearly_through_the_prefect_api(drifted, prefect_server):
    db, result = drifted
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]
    outcome = "5 of 6 services completed; player-milestones failed: schema drift"
    error = latest_runs(db)["player-milestones"][2]
    assert "column `Milestone`" in error
    run = flow_run_id(db)
    api = PrefectApi(prefect_server)

    logs = api.logs(run)
    errors = [record for record in logs if record.level >= logging.ERROR]
    assert [record.message for record in errors] == [error], "one ERROR record, the reason"
    assert not [record for record in logs if "Traceback" in record.message]

    flow_run = api.flow_run(run)
    assert flow_run.state.is_failed()
    assert flow_run.state.message.splitlines()[0] == outcome
    assert error in flow_run.state.message

    (summary,) = api.artifacts(run, key="backfill-summary")
    assert summary.description == outcome
    # The whole text, not cut off; shown as a quote with markdown's own characters escaped.
    shown = "\n".join(
        line.removeprefix("> ") for line in summary.data.splitlines() if line.startswith("> ")
    )
    assert re.sub(r"\\(.)", r"\1", shown) == error
    assert "| service | table | status | rows written |" in summary.data
    assert "| player-milestones | PlayerMilestones | failed |" in summary.data
    ok_rows = query(db, 'SELECT count(*) FROM "ServerOnlineCounts"')[0][0]
    assert f"| ServerOnlineCounts | completed | {ok_rows:,} of {ok_rows:,} |" in summary.data

    names = [task_run.name for task_run in api.task_runs(run)]
    assert "describe project" in names and "load PlayerMilestones" in names
    odd = [name for name in names if not TASK_RUN_NAME.fullmatch(name)]
    assert not odd, f"task run names that are not the deterministic ones: {odd}"
    assert len(names) == len(set(names)), "a name used twice"
    # The drifted table keeps its row.
    assert query(db, 'SELECT "PlayerName" FROM "PlayerMilestones"') == [("keep me",)]


def test_status_json_after_a_failed_service_names_its_reason(drifted, work):
    db, _ = drifted
    _, env = work
    status = bfstats("status", "--json", "--sqlite", str(db), env=env)
    report = {entry["service"]: entry for entry in json.loads(status.stdout)}
    failed = report["player-milestones"]
    assert failed["status"] == "failed" and "column `Milestone`" in failed["error"]
    assert [(t["table"], t["complete"]) for t in failed["tables"]] == [("PlayerMilestones", False)]
    assert {entry["status"] for s, entry in report.items() if s != "player-milestones"} == {
        "completed"
    }
