"""The target SQLite file: opening it, and the run metadata and checkpoints kept inside it.

Statements are fixed text with `?` parameters; table and column names come from the catalog and
go through `quote()`.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

RUNS = "_bfstats_runs"
CHECKPOINTS = "_bfstats_checkpoints"
STAGING_PREFIX = "_bfstats_staging_"


class SqliteTargetError(RuntimeError):
    """The SQLite file cannot be used; the message names the path and what to do."""


def quote(identifier: str) -> str:
    """Quote an SQLite identifier (doubling embedded quotes)."""
    return '"' + identifier.replace('"', '""') + '"'


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def connect(path: str | Path, *, create: bool = True) -> sqlite3.Connection:
    """Open the target file in autocommit mode (transactions are explicit), WAL journal."""
    path = Path(path)
    if not path.parent.exists():
        if not create:
            raise SqliteTargetError(f"SQLite database {path} does not exist")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise SqliteTargetError(
                f"cannot create the folder of SQLite database {path}: {error.strerror}; "
                "pass another --sqlite path or set BFSTATS_SQLITE_PATH"
            ) from None
    if path.is_dir():
        raise SqliteTargetError(f"SQLite path {path} is a directory; pass the path of a file")
    try:
        conn = sqlite3.connect(path, isolation_level=None, timeout=60, check_same_thread=False)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        ensure_metadata(conn)
    except sqlite3.Error as error:
        raise SqliteTargetError(
            f"cannot use SQLite database {path}: {error}; check that the file is an SQLite "
            "database and writable, or pass another --sqlite path"
        ) from None
    return conn


def connect_read_only(path: str | Path) -> sqlite3.Connection | None:
    """Open an existing file read-only (for status); None when it does not exist."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        return sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as error:
        raise SqliteTargetError(f"cannot read SQLite database {path}: {error}") from None


def ensure_metadata(conn: sqlite3.Connection) -> None:
    script = resources.files("bfstats").joinpath("sql/sqlite_metadata.sql").read_text()
    conn.executescript(script)


def table_exists(conn: sqlite3.Connection, name: str) -> bool:
    row = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
    ).fetchone()
    return row is not None


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    service: str
    status: str
    as_of: str
    rows_expected: int | None
    rows_written: int
    started_at: str
    finished_at: str | None
    duration_seconds: float | None
    error: str | None
    flow_run_id: str | None
    attempts: int

    def as_dict(self) -> dict:
        return dict(self.__dict__)


_RUN_COLUMNS = (
    "SELECT run_id, service, status, as_of, rows_expected, rows_written, started_at, "
    "finished_at, duration_seconds, error, flow_run_id, attempts FROM _bfstats_runs "
)
_LATEST_RUN = _RUN_COLUMNS + "WHERE service = ? ORDER BY started_at DESC, rowid DESC LIMIT 1"
_RUN = _RUN_COLUMNS + "WHERE run_id = ? AND service = ?"


class RunLedger:
    """Per service and run: status, as_of, rows expected/written, timings, error."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def _records(self, sql: str, params: tuple) -> list[RunRecord]:
        return [RunRecord(*row) for row in self.conn.execute(sql, params).fetchall()]

    def latest(self, service: str) -> RunRecord | None:
        records = self._records(_LATEST_RUN, (service,))
        return records[0] if records else None

    def get(self, run_id: str, service: str) -> RunRecord | None:
        records = self._records(_RUN, (run_id, service))
        return records[0] if records else None

    def start(self, run_id: str, service: str, as_of: str, flow_run_id: str | None) -> None:
        """Record that a service starts (or resumes: the same run_id counts another attempt)."""
        self.conn.execute(
            "INSERT INTO _bfstats_runs (run_id, service, status, as_of, started_at, flow_run_id) "
            "VALUES (?, ?, 'running', ?, ?, ?) "
            "ON CONFLICT (run_id, service) DO UPDATE SET status = 'running', error = NULL, "
            "finished_at = NULL, attempts = attempts + 1, flow_run_id = excluded.flow_run_id",
            (run_id, service, as_of, utc_now(), flow_run_id),
        )

    def finish(
        self,
        run_id: str,
        service: str,
        *,
        status: str,
        rows_expected: int | None,
        rows_written: int,
        duration_seconds: float,
        error: str | None = None,
    ) -> None:
        self.conn.execute(
            "UPDATE _bfstats_runs SET status = ?, rows_expected = ?, rows_written = ?, "
            "finished_at = ?, duration_seconds = ?, error = ? WHERE run_id = ? AND service = ?",
            (
                status,
                rows_expected,
                rows_written,
                utc_now(),
                round(duration_seconds, 3),
                error,
                run_id,
                service,
            ),
        )

    @staticmethod
    def pending(service: str) -> dict:
        return {
            "service": service,
            "status": "pending",
            "as_of": None,
            "rows_written": 0,
            "rows_expected": None,
        }

    @classmethod
    def pending_report(cls, services: list[str]) -> list[dict]:
        return [cls.pending(service) for service in services]

    def status_report(self, services: list[str]) -> list[dict]:
        """One entry per service: its latest run, or `pending` when it never ran."""
        if not table_exists(self.conn, RUNS):
            return self.pending_report(services)
        report = []
        for service in services:
            record = self.latest(service)
            report.append(self.pending(service) if record is None else record.as_dict())
        return report


@dataclass(frozen=True)
class Checkpoint:
    sqlite_table: str
    service: str
    run_id: str
    as_of: str
    state: str
    last_key: list | None
    rows_written: int
    rows_expected: int | None
    resumed_from: int
    rows_read: int


class Checkpoints:
    """Where each table's load stands; `advance` runs inside the batch's own transaction."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def get(self, table: str) -> Checkpoint | None:
        row = self.conn.execute(
            "SELECT sqlite_table, service, run_id, as_of, state, last_key, rows_written, "
            "rows_expected, resumed_from, rows_read FROM _bfstats_checkpoints "
            "WHERE sqlite_table = ?",
            (table,),
        ).fetchone()
        if row is None:
            return None
        values = list(row)
        values[5] = json.loads(values[5]) if values[5] is not None else None
        return Checkpoint(*values)

    def start(self, table: str, service: str, run_id: str, as_of: str, rows_expected: int) -> None:
        """A fresh load of `table` for this run: nothing written yet."""
        self.conn.execute(
            "INSERT OR REPLACE INTO _bfstats_checkpoints (sqlite_table, service, run_id, as_of, "
            "state, last_key, rows_written, rows_expected, resumed_from, rows_read, updated_at) "
            "VALUES (?, ?, ?, ?, 'loading', NULL, 0, ?, 0, 0, ?)",
            (table, service, run_id, as_of, rows_expected, utc_now()),
        )

    def resume(self, table: str, rows_expected: int) -> None:
        """A resumed load: remember where it resumed, count reads of this attempt from zero."""
        self.conn.execute(
            "UPDATE _bfstats_checkpoints SET resumed_from = rows_written, rows_read = 0, "
            "rows_expected = ?, updated_at = ? WHERE sqlite_table = ?",
            (rows_expected, utc_now(), table),
        )

    def advance(self, table: str, last_key: list, rows: int) -> None:
        self.conn.execute(
            "UPDATE _bfstats_checkpoints SET last_key = ?, rows_written = rows_written + ?, "
            "rows_read = rows_read + ?, updated_at = ? WHERE sqlite_table = ?",
            (json.dumps(last_key, ensure_ascii=False), rows, rows, utc_now(), table),
        )

    def mark_published(self, table: str) -> None:
        self.conn.execute(
            "UPDATE _bfstats_checkpoints SET state = 'published', updated_at = ? "
            "WHERE sqlite_table = ?",
            (utc_now(), table),
        )

    def discard(self, table: str) -> None:
        self.conn.execute("DELETE FROM _bfstats_checkpoints WHERE sqlite_table = ?", (table,))
