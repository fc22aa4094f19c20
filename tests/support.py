"""Helpers for tests that run `bfstats`, `prefect` and SQLite files in other processes."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

from bfstats.sqlite_store import quote

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def isolated_env(workdir: Path, **extra: str) -> dict[str, str]:
    """Environment for a child process with its own engine directory and dbt target folder."""
    env = {
        **os.environ,
        "BFSTATS_CHDB_PATH": str(workdir / "clickhouse"),
        "BFSTATS_SQLITE_PATH": str(workdir / "bfstats.db"),
        "DBT_TARGET_PATH": str(workdir / "target"),
        "DBT_LOG_PATH": str(workdir / "logs"),
        "BFSTATS_TARGET": "local",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("BFSTATS_CH_SCHEMA", None)
    env.pop("BFSTATS_SOURCE_DATABASE", None)
    env.update(extra)
    return env


def bfstats(*args: str, env: dict, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "bfstats"), *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def wait_for(condition, timeout: float, interval: float = 0.05, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def query(db: Path, sql: str, params: tuple = ()) -> list[tuple]:
    """Read from a SQLite file that another process may be writing (WAL: readers never block)."""
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    except sqlite3.OperationalError:
        return []  # not created yet
    try:
        return conn.execute(sql, params).fetchall()
    except sqlite3.OperationalError:
        return []
    finally:
        conn.close()


def table_difference(db: Path, reference: Path, table: str) -> tuple[int, int, int, int]:
    """(rows in db, rows in reference, rows only in db, rows only in reference)."""
    conn = sqlite3.connect(db)
    try:
        conn.execute("ATTACH DATABASE ? AS ref", (str(reference),))
        quoted = quote(table)
        count = conn.execute(f"SELECT count(*) FROM main.{quoted}").fetchone()[0]
        ref_count = conn.execute(f"SELECT count(*) FROM ref.{quoted}").fetchone()[0]
        only_db = conn.execute(
            f"SELECT count(*) FROM (SELECT * FROM main.{quoted} EXCEPT SELECT * FROM ref.{quoted})"
        ).fetchone()[0]
        only_ref = conn.execute(
            f"SELECT count(*) FROM (SELECT * FROM ref.{quoted} EXCEPT SELECT * FROM main.{quoted})"
        ).fetchone()[0]
        return count, ref_count, only_db, only_ref
    finally:
        conn.close()


SERVICES = [
    "server-online-counts",
    "player-stats",
    "player-milestones",
    "player-best-scores",
    "server-hourly-patterns",
    "hourly-player-predictions",
]
# Generated-data scale of the tests that run `bfstats` in other processes.
SCALE = os.environ.get("BFSTATS_TEST_SCALE", "0.01")


def generated_workdir(workdir: Path, server: PrefectServer, seed: int) -> dict[str, str]:
    """Generate raw data into a fresh engine directory under `workdir`; return the environment
    that points `bfstats` at it and at the Prefect server."""
    env = {**isolated_env(workdir), **server.env()}
    result = bfstats("generate", "--scale", SCALE, "--seed", str(seed), "--replace", env=env)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return env


TABLES = [
    "ServerOnlineCounts",
    "PlayerStatsLifetimes",
    "PlayerServerStats",
    "PlayerMapStats",
    "PlayerMilestones",
    "PlayerBestScores",
    "ServerHourlyPatterns",
    "HourlyPlayerPredictions",
]


class PrefectServer:
    """`prefect server start` on 127.0.0.1 with its own PREFECT_HOME (its own database)."""

    def __init__(self, home: Path):
        self.home = home
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/api"
        self.log = home / "server.log"
        self.process: subprocess.Popen | None = None

    def env(self) -> dict[str, str]:
        return {
            "PREFECT_HOME": str(self.home),
            "PREFECT_API_URL": self.url,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        }

    def start(self, timeout: float = 180) -> None:
        env = {**os.environ, **self.env()}
        env.pop("PREFECT_API_URL")
        self.process = subprocess.Popen(
            [
                str(BIN / "prefect"),
                "server",
                "start",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ],
            env=env,
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        import urllib.request

        def healthy() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"prefect server exited: {self.log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as response:
                    return response.status == 200
            except OSError:
                return False

        wait_for(healthy, timeout, interval=0.5, what="prefect server to answer /api/health")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, 15)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, 9)


class Backfill:
    """`bfstats backfill` in its own process group, its output collected line by line."""

    def __init__(self, args: list[str], env: dict):
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [str(BIN / "bfstats"), "backfill", *args],
            env=env,
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line)

    def saw(self, text: str) -> bool:
        assert self.process.poll() is None, "backfill ended before the kill:\n" + "".join(
            self.lines[-60:]
        )
        return any(text in line for line in self.lines)

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=60)


def checkpoint(db, table: str):
    """(state, rows_written, rows_expected, resumed_from, rows_read) of a table, or None."""
    rows = query(
        db,
        "SELECT state, rows_written, rows_expected, resumed_from, rows_read "
        "FROM _bfstats_checkpoints WHERE sqlite_table = ?",
        (table,),
    )
    return rows[0] if rows else None


def loading_past(db, table: str, rows: int):
    """A condition for wait_for: the table is loading and has `rows` rows checkpointed."""

    def condition():
        point = checkpoint(db, table)
        return point is not None and point[0] == "loading" and point[1] >= rows

    return condition
