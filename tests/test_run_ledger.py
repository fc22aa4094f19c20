"""Status that tells the truth: interrupted and failed runs say so with their reason and the rows
their checkpoints hold, and a `running` row whose process is gone is not reported as running."""

from __future__ import annotations

import json
import os
import socket
import sqlite3

import pytest
from bfstats import cli
from bfstats.sqlite_store import (
    Checkpoints,
    RunLedger,
    RunLock,
    connect,
    schema_version,
    transaction,
)
from bfstats.sqlite_store.ledger import REPORT_KEYS
from lock_holders import Holder
from test_sqlite_metadata import restore_v1

AS_OF = "2026-01-01T00:00:00Z"
PLAYER_STATS = ["PlayerMapStats", "PlayerServerStats", "PlayerStatsLifetimes"]


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "ledger.db"
    connect(path).close()
    return path


def start(conn, run_id: str, service: str, tables: dict, **who) -> None:
    """A service's run as the loader leaves it: table -> (rows written, expected, published)."""
    RunLedger(conn).start(run_id, service, AS_OF, "flow-run-1", **who)
    checkpoints = Checkpoints(conn)
    for table, (written, expected, published) in tables.items():
        with transaction(conn):
            checkpoints.start(table, service, run_id, AS_OF, expected)
            if written:
                checkpoints.advance(table, [written], written)
            if published:
                checkpoints.mark_published(table)


def entries(conn, services, tables=None) -> dict[str, dict]:
    return {e["service"]: e for e in RunLedger(conn).status_report(services, tables)}


def test_an_interrupted_run_reports_its_reason_and_the_rows_checkpointed(db):
    conn = connect(db)
    start(conn, "r1", "player-stats", {"PlayerMapStats": (1000, 1000, True)})
    start(conn, "r1", "player-stats", {"PlayerServerStats": (584_000, 2_000_000, False)})
    start(conn, "r1", "player-milestones", {"PlayerMilestones": (18, 18, True)})
    ledger = RunLedger(conn)
    ledger.finish(
        "r1",
        "player-milestones",
        status="completed",
        rows_expected=18,
        rows_written=18,
        duration_seconds=1.0,
    )

    changed = ledger.interrupt("r1", ["player-stats", "player-milestones"], "interrupted by SIGINT")

    assert changed == 1  # the completed service stays completed
    record = ledger.latest("player-stats")
    assert (record.status, record.error, record.rows_written) == (
        "interrupted",
        "interrupted by SIGINT",
        585_000,
    )
    assert record.finished_at and record.duration_seconds is not None
    assert ledger.latest("player-milestones").status == "completed"

    report = entries(conn, ["player-stats"], {"player-stats": PLAYER_STATS})["player-stats"]
    assert report["status"] == "interrupted" and report["error"] == "interrupted by SIGINT"
    assert report["rows_written"] == 585_000
    assert report["rows_expected"] is None  # PlayerStatsLifetimes has not started: unknown
    assert report["tables"] == [
        {"table": "PlayerMapStats", "rows_written": 1000, "rows_expected": 1000, "complete": True},
        {
            "table": "PlayerServerStats",
            "rows_written": 584_000,
            "rows_expected": 2_000_000,
            "complete": False,
        },
        {
            "table": "PlayerStatsLifetimes",
            "rows_written": 0,
            "rows_expected": None,
            "complete": False,
        },
    ]
    two_tables = {"player-stats": PLAYER_STATS[:2]}
    assert entries(conn, ["player-stats"], two_tables)["player-stats"]["rows_expected"] == 2_001_000


def test_a_failure_before_loading_ends_every_running_service_failed(db):
    conn = connect(db)
    services = ["server-online-counts", "player-stats", "player-milestones"]
    # One backfill may hold several run ids: a resumed service keeps its own.
    start(conn, "old-run", "server-online-counts", {"ServerOnlineCounts": (5000, 43_209, False)})
    for service in services[1:]:
        start(conn, "new-run", service, {})
    error = "ClickHouseError: cannot reach ClickHouse at db.example:8123; check host and port"

    assert RunLedger(conn).fail("new-run", services, error) == 2
    assert RunLedger(conn).latest("server-online-counts").status == "running"
    assert RunLedger(conn).fail(None, services, error) == 1

    report = entries(conn, services)
    for service in services:
        assert report[service]["status"] == "failed", report[service]
        assert report[service]["error"] == error
    assert report["server-online-counts"]["rows_written"] == 5000
    assert report["player-stats"]["rows_written"] == 0


def test_a_running_row_is_running_only_while_its_process_holds_the_run_lock(db):
    conn = connect(db)
    start(conn, "r1", "player-milestones", {"PlayerMilestones": (10, 18, False)})
    with RunLock(db, flow_run_id="flow-run-1"):
        report = entries(conn, ["player-milestones"])["player-milestones"]
        assert report["status"] == "running" and report["error"] is None
        assert (report["pid"], report["host"]) == (os.getpid(), socket.gethostname())
        assert report["rows_written"] == 10
    report = entries(conn, ["player-milestones"])["player-milestones"]
    assert report["status"] == "interrupted"
    assert f"the process that ran it (pid {os.getpid()}" in report["error"]
    assert "is gone" in report["error"] and "resumes it" in report["error"]
    assert RunLedger(conn).latest("player-milestones").status == "running"  # report only


@pytest.mark.slow
def test_a_running_row_of_another_process_follows_that_process(db):
    conn = connect(db)
    with Holder("run-lock", db, 60, flow_run_id="theirs") as holder:
        start(conn, "r1", "player-stats", {}, pid=holder.pid, host=socket.gethostname())
        # A row left by an earlier crash, while another backfill holds the file now.
        start(conn, "r0", "player-milestones", {}, pid=1, host=socket.gethostname())
        report = entries(conn, ["player-stats", "player-milestones"])
        assert report["player-stats"]["status"] == "running"
        assert report["player-milestones"]["status"] == "interrupted"
        assert f"now held by pid {holder.pid}" in report["player-milestones"]["error"]
        holder.kill()
    report = entries(conn, ["player-stats"])["player-stats"]
    assert report["status"] == "interrupted"
    assert f"pid {holder.pid}" in report["error"] and "is gone" in report["error"]


def test_every_entry_has_every_field(db):
    conn = connect(db)
    start(conn, "r1", "player-milestones", {"PlayerMilestones": (18, 18, True)})
    RunLedger(conn).finish(
        "r1",
        "player-milestones",
        status="completed",
        rows_expected=18,
        rows_written=18,
        duration_seconds=2.5,
    )
    report = entries(conn, ["player-milestones", "player-stats"], {"player-stats": PLAYER_STATS})
    for entry in report.values():
        assert tuple(entry) == REPORT_KEYS
        json.dumps(entry)
    assert report["player-stats"]["status"] == "pending"
    assert [t["table"] for t in report["player-stats"]["tables"]] == PLAYER_STATS
    assert report["player-milestones"]["tables"] == [
        {"table": "PlayerMilestones", "rows_written": 18, "rows_expected": 18, "complete": True}
    ]
    with pytest.raises(ValueError, match="unknown run status"):
        RunLedger(conn).finish(
            "r1", "player-milestones", status="done", rows_expected=1, rows_written=1,
            duration_seconds=1,
        )  # fmt: skip


@pytest.mark.slow  # parses the dbt project (the catalog) in this process
def test_status_of_a_killed_run_of_the_previous_version(tmp_path, capsys):
    """The v1 fixture: the killed service said `running`, rows 0; now interrupted, 118 of 1,680.
    `status` reads the file as it is: it does not migrate (or write) it."""
    db = restore_v1(tmp_path / "v1.db")
    assert cli.main(["status", "--json", "--sqlite", str(db)]) == 0
    report = {e["service"]: e for e in json.loads(capsys.readouterr().out)}
    killed = report["server-hourly-patterns"]
    assert killed["status"] == "interrupted" and "is gone" in killed["error"]
    assert (killed["rows_written"], killed["rows_expected"]) == (118, 1680)
    assert killed["tables"] == [
        {
            "table": "ServerHourlyPatterns",
            "rows_written": 118,
            "rows_expected": 1680,
            "complete": False,
        }
    ]
    assert report["player-milestones"]["status"] == "completed"
    assert report["player-stats"]["status"] == "pending"
    assert [t["table"] for t in report["player-stats"]["tables"]] == PLAYER_STATS
    conn = sqlite3.connect(db)
    assert schema_version(conn) == 1
    conn.close()

    assert cli.main(["status", "--sqlite", str(db)]) == 0
    text = capsys.readouterr().out
    assert "118 of 1,680" in text and "interrupted" in text and "incomplete" in text
