"""The deployment path for real: `prefect server start` on 127.0.0.1, `bfstats serve`, then
`prefect deployment run backfill/all --watch`; and what the UI's Retry does to a failed run."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess

import pytest
from bfstats.sqlite_store import connect
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import State, StateType
from prefect.settings import PREFECT_API_URL, temporary_settings
from support import BIN, REPO, SERVICES, TABLES, generated_workdir, query, wait_for

pytestmark = pytest.mark.slow
DEPLOYMENTS = ["all", *SERVICES]


@pytest.fixture(scope="module")
def runner(prefect_server, tmp_path_factory):
    """Generated raw data, and `bfstats serve` serving every deployment against the server."""
    work = tmp_path_factory.mktemp("deploy")
    env = generated_workdir(work, prefect_server, seed=11)
    log = (work / "serve.log").open("w")
    serve = subprocess.Popen(
        [str(BIN / "bfstats"), "serve"],
        env=env,
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )

    def deployments_registered() -> bool:
        assert serve.poll() is None, (work / "serve.log").read_text()[-3000:]
        with client_for(prefect_server), get_client(sync_client=True) as client:
            names = {d.name for d in client.read_deployments()}
        return set(DEPLOYMENTS) <= names

    wait_for(deployments_registered, 180, interval=1, what="bfstats serve to register")
    yield work, env
    os.killpg(serve.pid, 15)
    serve.wait(timeout=60)


def client_for(server):
    return temporary_settings({PREFECT_API_URL: server.url})


def test_every_deployment_is_served_with_concurrency_limit_one(runner, prefect_server):
    with client_for(prefect_server), get_client(sync_client=True) as client:
        for name in DEPLOYMENTS:
            deployment = client.read_deployment_by_name(f"backfill/{name}")
            limit = deployment.global_concurrency_limit
            assert limit is not None and limit.limit == 1, name
            assert deployment.parameters == {"services": [name]}


def test_deployment_run_all_watch_loads_every_table(runner, prefect_server):
    work, env = runner
    run = subprocess.run(
        [str(BIN / "prefect"), "deployment", "run", "backfill/all", "--watch"],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "Completed" in run.stdout
    db = work / "bfstats.db"
    statuses = dict(query(db, "SELECT service, status FROM _bfstats_runs"))
    assert set(statuses) == set(DEPLOYMENTS) - {"all"}
    assert set(statuses.values()) == {"completed"}
    for table in TABLES:
        assert query(db, f'SELECT count(*) FROM "{table}"')[0][0] > 0, table


def test_retry_from_the_ui_resumes_a_failed_run(runner, prefect_server, tmp_path):
    work, env = runner
    db = tmp_path / "retry.db"
    conn = connect(db)
    # A fault inside SQLite itself: the batch that would take PlayerServerStats past 200 rows
    # is rolled back and the service fails, after 200 rows were committed with checkpoints.
    conn.execute(
        "CREATE TRIGGER injected_fault BEFORE UPDATE OF rows_written ON _bfstats_checkpoints "
        "WHEN NEW.sqlite_table = 'PlayerServerStats' AND NEW.rows_written > 200 "
        "BEGIN SELECT RAISE(ABORT, 'injected fault'); END"
    )
    conn.close()
    failed = subprocess.run(
        [
            str(BIN / "prefect"),
            "deployment",
            "run",
            "backfill/player-stats",
            "--param",
            f"sqlite_path={db}",
            "--param",
            "batch_size=20",
            "--watch",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert failed.returncode != 0, failed.stdout[-3000:]
    flow_run_id = re.search(r"UUID: ([0-9a-f-]{36})", failed.stdout).group(1)
    first = query(db, "SELECT run_id, status, attempts FROM _bfstats_runs")
    assert [(status, attempts) for _, status, attempts in first] == [("failed", 1)]
    stuck = query(
        db,
        "SELECT state, rows_written FROM _bfstats_checkpoints "
        "WHERE sqlite_table = 'PlayerServerStats'",
    )
    assert stuck == [("loading", 200)]

    conn = sqlite3.connect(db)
    conn.execute("DROP TRIGGER injected_fault")
    conn.commit()
    conn.close()
    with client_for(prefect_server), get_client(sync_client=True) as client:
        # Exactly what the UI's Retry button sends.
        client.set_flow_run_state(
            flow_run_id,
            State(type=StateType.SCHEDULED, name="AwaitingRetry", message="Retry from the UI"),
            force=True,
        )

        def finished():
            state = client.read_flow_run(flow_run_id).state
            return state if state.is_final() else None

        state = wait_for(finished, 600, interval=1, what="the retried flow run to finish")
    assert state.is_completed(), state.message
    after = query(db, "SELECT run_id, status, attempts FROM _bfstats_runs")
    assert after == [(first[0][0], "completed", 2)]
    resumed_from, rows_read, rows_expected, rows_written = query(
        db,
        "SELECT resumed_from, rows_read, rows_expected, rows_written FROM _bfstats_checkpoints "
        "WHERE sqlite_table = 'PlayerServerStats'",
    )[0]
    assert resumed_from == 200
    assert rows_read == rows_expected - 200 < rows_expected
    assert rows_written == rows_expected
    assert query(db, 'SELECT count(*) FROM "PlayerServerStats"')[0][0] == rows_expected


def test_an_expected_failure_in_a_deployment_run_is_one_error_line(
    runner, prefect_server, tmp_path
):
    """A drifted table through a served deployment run (Prefect's engine resolves a failed
    state's result there, which a direct call does not): the run's log has exactly one ERROR
    record, the actionable message without a traceback, and deterministic task run names."""
    from support import PrefectApi

    _, env = runner
    db = tmp_path / "drifted.db"
    conn = sqlite3.connect(db)
    conn.execute(
        'CREATE TABLE "PlayerMilestones" ("PlayerName" TEXT NOT NULL, "Milestone" TEXT NOT NULL, '
        '"AchievedAt" TEXT NOT NULL, "TotalKillsAtMilestone" INTEGER NOT NULL, '
        '"DaysToAchieve" INTEGER NOT NULL, '
        'CONSTRAINT "PK_PlayerMilestones" PRIMARY KEY ("PlayerName", "Milestone"))'
    )
    conn.close()
    failed = subprocess.run(
        [
            *(str(BIN / "prefect"), "deployment", "run", "backfill/player-milestones"),
            *("--param", f"sqlite_path={db}", "--watch"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert failed.returncode != 0, failed.stdout[-3000:]
    flow_run = re.search(r"UUID: ([0-9a-f-]{36})", failed.stdout).group(1)
    api = PrefectApi(prefect_server)
    logs = api.logs(flow_run)
    errors = [log.message for log in logs if log.level >= 40]
    assert len(errors) == 1, errors
    assert "column `Milestone`: SQLite has TEXT, the model produces INTEGER" in errors[0]
    assert not any("Traceback" in log.message or "Engine execution" in log.message for log in logs)
    names = {run.name for run in api.task_runs(flow_run)}
    assert "load PlayerMilestones" in names and "describe project" in names
    assert not [name for name in names if re.search(r"-[0-9a-f]{3}$", name)], names
    with client_for(prefect_server), get_client(sync_client=True) as client:
        state = client.read_flow_run(flow_run).state
    assert state.is_failed()
    assert state.message.startswith("0 of 1 services completed; player-milestones failed: schema")
