"""The run ledger (`_bfstats_runs`): per service and run, its status, `as_of`, rows, timings,
reason and who runs it; and the status report built from it and the checkpoints.

Statuses: `running` (a process is at it), `completed`, `failed` (with the error), `interrupted`
(stopped by a signal, with the reason). A `running` row whose process is gone - nobody holds the
file's run lock, or the holder is another process - is reported as `interrupted`: a crash or a
SIGKILL leaves no chance to record anything else. Rows are read by column name, so a file of an
older metadata version reads too (missing columns read as None).
"""

from __future__ import annotations

import os
import socket
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields

from bfstats.sqlite_store.basics import RUNS, database_path, table_exists, utc_now
from bfstats.sqlite_store.checkpoints import Checkpoint, Checkpoints
from bfstats.sqlite_store.run_lock import describe_holder, lock_holder

STATUSES = ("running", "completed", "failed", "interrupted")
# The fields of a status report entry, in the order `bfstats status --json` prints them.
REPORT_KEYS = (
    "service",
    "status",
    "as_of",
    "rows_written",
    "rows_expected",
    "error",
    "run_id",
    "started_at",
    "finished_at",
    "duration_seconds",
    "flow_run_id",
    "attempts",
    "host",
    "pid",
    "updated_at",
    "tables",
)


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
    host: str | None = None
    pid: int | None = None
    updated_at: str | None = None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> RunRecord:
        names = row.keys()
        return cls(**{f.name: row[f.name] if f.name in names else None for f in fields(cls)})

    def as_dict(self) -> dict:
        return dict(self.__dict__)


_LATEST_RUN = (
    "SELECT * FROM _bfstats_runs WHERE service = ? ORDER BY started_at DESC, rowid DESC LIMIT 1"
)
_RUN = "SELECT * FROM _bfstats_runs WHERE run_id = ? AND service = ?"
# A run that ends without finishing its loads: the rows its checkpoints hold, how long it ran.
_END_RUNNING = (
    "UPDATE _bfstats_runs SET status = ?, error = ?, finished_at = ?, updated_at = ?, "
    "duration_seconds = round((julianday(?) - julianday(started_at)) * 86400, 3), "
    "rows_written = coalesce((SELECT sum(c.rows_written) FROM _bfstats_checkpoints AS c "
    "WHERE c.run_id = _bfstats_runs.run_id AND c.service = _bfstats_runs.service), 0) "
    "WHERE service = ? AND status = 'running' AND run_id = coalesce(?, run_id)"
)


class RunLedger:
    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def _records(self, sql: str, params: tuple) -> list[RunRecord]:
        cursor = self.conn.cursor()
        cursor.row_factory = sqlite3.Row
        return [RunRecord.from_row(row) for row in cursor.execute(sql, params).fetchall()]

    def latest(self, service: str) -> RunRecord | None:
        records = self._records(_LATEST_RUN, (service,))
        return records[0] if records else None

    def get(self, run_id: str, service: str) -> RunRecord | None:
        records = self._records(_RUN, (run_id, service))
        return records[0] if records else None

    def start(
        self,
        run_id: str,
        service: str,
        as_of: str,
        flow_run_id: str | None,
        *,
        host: str | None = None,
        pid: int | None = None,
    ) -> None:
        """Record that a service starts (or resumes: the same run_id counts another attempt),
        run by this process unless `host`/`pid` say otherwise."""
        now = utc_now()
        self.conn.execute(
            "INSERT INTO _bfstats_runs (run_id, service, status, as_of, started_at, flow_run_id, "
            "host, pid, updated_at) VALUES (?, ?, 'running', ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (run_id, service) DO UPDATE SET status = 'running', error = NULL, "
            "finished_at = NULL, attempts = attempts + 1, flow_run_id = excluded.flow_run_id, "
            "host = excluded.host, pid = excluded.pid, updated_at = excluded.updated_at",
            (
                run_id,
                service,
                as_of,
                now,
                flow_run_id,
                host or socket.gethostname(),
                pid if pid is not None else os.getpid(),
                now,
            ),
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
        if status not in STATUSES:
            raise ValueError(f"unknown run status {status!r}; one of {', '.join(STATUSES)}")
        now = utc_now()
        self.conn.execute(
            "UPDATE _bfstats_runs SET status = ?, rows_expected = ?, rows_written = ?, "
            "finished_at = ?, duration_seconds = ?, error = ?, updated_at = ? "
            "WHERE run_id = ? AND service = ?",
            (
                status,
                rows_expected,
                rows_written,
                now,
                round(duration_seconds, 3),
                error,
                now,
                run_id,
                service,
            ),
        )

    def _end_running(
        self, status: str, run_id: str | None, services: Iterable[str], reason: str
    ) -> int:
        now = utc_now()
        changed = 0
        for service in services:
            cursor = self.conn.execute(
                _END_RUNNING, (status, reason, now, now, now, service, run_id)
            )
            changed += cursor.rowcount
        return changed

    def interrupt(self, run_id: str | None, services: Iterable[str], reason: str) -> int:
        """The run was stopped (a signal): its services still `running` become `interrupted`
        with `reason`, keeping their checkpoints for the next run. `run_id=None`: every
        `running` row of those services (a resumed service keeps its old run id, so one backfill
        may hold several). Completed and failed rows are left as they are. Returns the number
        of rows changed."""
        return self._end_running("interrupted", run_id, services, reason)

    def fail(self, run_id: str | None, services: Iterable[str], error: str) -> int:
        """The run failed before or outside a service's own load (engine directory locked,
        server unreachable): its services still `running` become `failed` with `error`.
        `run_id` as for `interrupt`."""
        return self._end_running("failed", run_id, services, error)

    @staticmethod
    def pending(service: str, tables: Sequence[str] = ()) -> dict:
        return {
            "service": service,
            "status": "pending",
            "as_of": None,
            "rows_written": 0,
            "rows_expected": None,
            "error": None,
            "run_id": None,
            "started_at": None,
            "finished_at": None,
            "duration_seconds": None,
            "flow_run_id": None,
            "attempts": 0,
            "host": None,
            "pid": None,
            "updated_at": None,
            "tables": [_table_entry(table, None, done=False) for table in tables],
        }

    @classmethod
    def pending_report(
        cls, services: list[str], tables: Mapping[str, Sequence[str]] | None = None
    ) -> list[dict]:
        tables = tables or {}
        return [cls.pending(service, tables.get(service, ())) for service in services]

    def status_report(
        self, services: list[str], tables: Mapping[str, Sequence[str]] | None = None
    ) -> list[dict]:
        """One entry per service: its latest run, or `pending` when it never ran. `tables`
        (service -> its target tables) lists tables not started yet too, and lets
        `rows_expected` of an unfinished run be the sum over all of them."""
        tables = tables or {}
        if not table_exists(self.conn, RUNS):
            return self.pending_report(services, tables)
        path = database_path(self.conn)
        holder = lock_holder(path) if path is not None else None
        report = []
        for service in services:
            record = self.latest(service)
            if record is None:
                report.append(self.pending(service, tables.get(service, ())))
            else:
                report.append(self._entry(record, tables.get(service), holder))
        return report

    def _entry(
        self, record: RunRecord, table_names: Sequence[str] | None, holder: dict | None
    ) -> dict:
        checkpoints = {
            c.sqlite_table: c for c in Checkpoints(self.conn).of_run(record.run_id, record.service)
        }
        names = list(table_names) if table_names is not None else sorted(checkpoints)
        completed = record.status == "completed"
        entry = record.as_dict()
        entry["tables"] = [
            _table_entry(name, checkpoints.get(name), done=completed) for name in names
        ]
        if not completed:
            if checkpoints:
                entry["rows_written"] = sum(c.rows_written for c in checkpoints.values())
            expected = [checkpoints[n].rows_expected if n in checkpoints else None for n in names]
            if names and all(value is not None for value in expected):
                entry["rows_expected"] = sum(expected)
        if record.status == "running" and not _still_running(record, holder):
            entry["status"] = "interrupted"
            entry["error"] = _gone_reason(record, holder)
        return {key: entry[key] for key in REPORT_KEYS}


def _table_entry(table: str, checkpoint: Checkpoint | None, *, done: bool) -> dict:
    """The seed's BackfillProgress(TotalRows, ProcessedRows, IsComplete) of one table."""
    if checkpoint is None:
        return {"table": table, "rows_written": 0, "rows_expected": None, "complete": done}
    return {
        "table": table,
        "rows_written": checkpoint.rows_written,
        "rows_expected": checkpoint.rows_expected,
        "complete": checkpoint.complete,
    }


def _still_running(record: RunRecord, holder: dict | None) -> bool:
    """A `running` row is true while a process holds the run lock and that process is the one
    the row names (when both are known)."""
    if holder is None:
        return False
    if record.pid is None or holder.get("pid") is None:
        return True
    return record.pid == holder.get("pid") and record.host == holder.get("host")


def _gone_reason(record: RunRecord, holder: dict | None) -> str:
    who = f" (pid {record.pid} on host {record.host})" if record.pid is not None else ""
    reason = (
        f"the process that ran it{who} is gone: it stopped without recording why (killed, or "
        "its machine stopped)"
    )
    if holder is not None:
        reason += f"; the file is now held by {describe_holder(holder)}"
    return reason + "; the next backfill resumes it from its checkpoints"
