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

    def output(self) -> str:
        return "".join(self.lines)

    def first_line(self, text: str) -> str | None:
        return next((line for line in self.lines if text in line), None)


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


def copy_db(source: Path, target: Path) -> Path:
    """A consistent copy of a SQLite file (SQLite's backup API: the WAL's pages included)."""
    src = sqlite3.connect(source)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()
    return target


_CLICKHOUSE_SCRIPT = """
import sys
from dbt.adapters.chdb import engine
session = engine.connect(sys.argv[1])
try:
    for statement in sys.argv[2:]:
        session.query(statement)
finally:
    session.close()
"""


def clickhouse_sql(env: dict, *statements: str) -> None:
    """Run statements on the embedded engine of `env` in a child process: one process per engine
    directory, and the test process hosts its own."""
    result = subprocess.run(
        [sys.executable, "-c", _CLICKHOUSE_SCRIPT, env["BFSTATS_CHDB_PATH"], *statements],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]


_HOLD_ENGINE_SCRIPT = """
import sys, time
from dbt.adapters.chdb import engine
session = engine.connect(sys.argv[1])
session.query("SELECT 1")
print("ready", flush=True)
time.sleep(float(sys.argv[2]))
"""


class EngineHolder:
    """A child process that has the embedded engine of `env` open (and its directory locked)."""

    def __init__(self, env: dict, seconds: float = 300):
        self.process = subprocess.Popen(
            [sys.executable, "-c", _HOLD_ENGINE_SCRIPT, env["BFSTATS_CHDB_PATH"], str(seconds)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        line = self.process.stdout.readline().strip()
        if line != "ready":
            self.process.kill()
            raise AssertionError(f"engine holder did not start: {self.process.stderr.read()}")

    def __enter__(self) -> EngineHolder:
        return self

    def __exit__(self, *exc) -> None:
        self.process.kill()
        self.process.wait(timeout=30)
        self.process.stdout.close()
        self.process.stderr.close()


def process_tree(pid: int) -> dict[int, str]:
    """pid -> command line of `pid` and every process below it (read from /proc)."""
    children: dict[int, list[int]] = {}
    commands: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
        commands[int(entry.name)] = command
    tree, frontier = {}, [pid]
    while frontier:
        current = frontier.pop()
        tree[current] = commands.get(current, "")
        frontier.extend(children.get(current, []))
    return tree


def alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return any(
        alive(int(entry.name))
        for entry in Path("/proc").iterdir()
        if entry.name.isdigit() and _pgid(entry) == pgid
    )


def _pgid(entry: Path) -> int | None:
    try:
        return int((entry / "stat").read_text().rsplit(")", 1)[1].split()[2])
    except (OSError, ValueError, IndexError):
        return None


def flow_run_id(db: Path) -> str:
    """The Prefect flow run of the latest run recorded in the SQLite file."""
    rows = query(db, "SELECT flow_run_id FROM _bfstats_runs ORDER BY started_at DESC LIMIT 1")
    assert rows and rows[0][0], "no flow run recorded"
    return rows[0][0]


class PrefectApi:
    """What a flow run left in a Prefect server, read through its API (a synchronous client)."""

    def __init__(self, server: PrefectServer | str):
        self.url = server if isinstance(server, str) else server.url

    def _client(self):
        from prefect.client.orchestration import get_client
        from prefect.settings import PREFECT_API_URL, temporary_settings

        class _Session:
            def __enter__(session):
                session.settings = temporary_settings({PREFECT_API_URL: self.url})
                session.settings.__enter__()
                session.client = get_client(sync_client=True)
                return session.client.__enter__()

            def __exit__(session, *exc):
                try:
                    session.client.__exit__(*exc)
                finally:
                    session.settings.__exit__(*exc)

        return _Session()

    def logs(self, flow_run: str) -> list:
        """Every log record of the flow run and its task runs, oldest first."""
        from uuid import UUID

        from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
        from prefect.client.schemas.sorting import LogSort

        found, page = [], 200
        log_filter = LogFilter(flow_run_id=LogFilterFlowRunId(any_=[UUID(flow_run)]))
        with self._client() as client:
            while True:
                batch = client.read_logs(
                    log_filter=log_filter, limit=page, offset=len(found), sort=LogSort.TIMESTAMP_ASC
                )
                found += batch
                if len(batch) < page:
                    return found

    def artifacts(self, flow_run: str, key: str | None = None) -> list:
        from uuid import UUID

        from prefect.client.schemas.filters import (
            ArtifactFilter,
            ArtifactFilterFlowRunId,
            ArtifactFilterKey,
        )

        artifact_filter = ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[UUID(flow_run)]))
        if key is not None:
            artifact_filter.key = ArtifactFilterKey(any_=[key])
        with self._client() as client:
            return client.read_artifacts(artifact_filter=artifact_filter)

    def task_runs(self, flow_run: str) -> list:
        from uuid import UUID

        from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

        with self._client() as client:
            return client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[UUID(flow_run)]))
            )

    def flow_run(self, flow_run: str):
        from uuid import UUID

        with self._client() as client:
            return client.read_flow_run(UUID(flow_run))


def _real_affinity(declared: str) -> bool:
    declared = declared.upper()
    return any(word in declared for word in ("REAL", "FLOA", "DOUB"))


def table_difference_close(
    db: Path, reference: Path, table: str, rel: float = 1e-9
) -> tuple[int, int, int, int]:
    """`table_difference`, with REAL values equal when within `rel` of each other: ClickHouse
    adds floats in whatever order its threads finish, so two builds of one mart (a resume's and
    an uninterrupted run's) may differ in the last bits of a sum. Rows are matched on the
    primary key; every other column must be equal."""
    conn = sqlite3.connect(db)
    try:
        conn.execute("ATTACH DATABASE ? AS ref", (str(reference),))
        quoted = quote(table)
        columns = conn.execute(f"PRAGMA main.table_info({quoted})").fetchall()
        conditions = []
        for _, name, declared, _, _, key in columns:
            a, b = f"a.{quote(name)}", f"b.{quote(name)}"
            if key:  # `=` on the primary key: SQLite looks the row up by its index
                conditions.insert(0, f"{a} = {b}")
            elif _real_affinity(declared or ""):
                conditions.append(
                    f"({a} IS {b} OR abs({a} - {b}) <= {rel!r} * max(abs({a}), abs({b})))"
                )
            else:
                conditions.append(f"{a} IS {b}")
        match = " AND ".join(conditions)

        def missing(left: str, right: str) -> int:
            return conn.execute(
                f"SELECT count(*) FROM {left}.{quoted} AS a WHERE NOT EXISTS "
                f"(SELECT 1 FROM {right}.{quoted} AS b WHERE {match})"
            ).fetchone()[0]

        count = conn.execute(f"SELECT count(*) FROM main.{quoted}").fetchone()[0]
        ref_count = conn.execute(f"SELECT count(*) FROM ref.{quoted}").fetchone()[0]
        return count, ref_count, missing("main", "ref"), missing("ref", "main")
    finally:
        conn.close()
