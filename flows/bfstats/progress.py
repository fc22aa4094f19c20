"""Progress of a table's load: a log line every 10 000 rows (rows, rows/s, ETA), a Prefect
progress artifact per table when running inside a flow, and events for listeners such as the
CLI's progress bar."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

LOG_EVERY_ROWS = 10_000
# Outside a flow run: a child of Prefect's logger, printed in Prefect's format once it is set up.
LOGGER_NAME = "prefect.bfstats"
# Each artifact update is a call to the Prefect API: at most one per this many seconds.
ARTIFACT_EVERY_SECONDS = 2.0
_listeners: list[Callable[[ProgressEvent], None]] = []


@dataclass(frozen=True)
class ProgressEvent:
    kind: str  # "start", "advance", "finish"
    table: str
    rows_done: int
    rows_total: int | None


def add_listener(listener: Callable[[ProgressEvent], None]) -> None:
    _listeners.append(listener)


def remove_listener(listener: Callable[[ProgressEvent], None]) -> None:
    if listener in _listeners:
        _listeners.remove(listener)


def _emit(event: ProgressEvent) -> None:
    for listener in list(_listeners):
        listener(event)


def logger() -> logging.Logger | logging.LoggerAdapter:
    """Prefect's run logger inside a flow or task run; elsewhere `prefect.bfstats`, which
    Prefect's logging configuration prints in the same format (when Prefect is imported)."""
    try:
        from prefect import get_run_logger

        return get_run_logger()
    except Exception:  # no active run context
        return logging.getLogger(LOGGER_NAME)


def rows_text(written: int | None, expected: int | None) -> str:
    """`584,000 of 4,249,057` (or `584,000 of ?` before the mart was counted)."""
    expected_text = "?" if expected is None else f"{expected:,}"
    return f"{written or 0:,} of {expected_text}"


def format_duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{seconds:02d}s" if hours else f"{minutes}m{seconds:02d}s"


def artifact_key(table: str) -> str:
    """`ServerOnlineCounts` -> `progress-server-online-counts`: Prefect keys allow lowercase
    letters, digits and dashes; the table's words stay readable."""
    return "progress-" + re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", table).lower()


class _Artifact:
    """A Prefect progress artifact, when there is a flow run to attach it to."""

    def __init__(self, table: str, percent: float, description: str):
        self.id = None
        # The first update after a few seconds: a rate from one batch would make a wild ETA.
        self._last_update = time.monotonic()
        try:
            from prefect.artifacts import create_progress_artifact
            from prefect.context import FlowRunContext

            if FlowRunContext.get() is None:
                return
            self.id = create_progress_artifact(
                progress=percent, key=artifact_key(table), description=description
            )
        except Exception as error:  # the UI's view must never stop a load
            logger().debug("no progress artifact for %s: %s", table, error)

    def due(self) -> bool:
        """An update now would not flood the API (checked per batch, so cheap)."""
        return self.id is not None and time.monotonic() - self._last_update >= (
            ARTIFACT_EVERY_SECONDS
        )

    def update(self, percent: float, description: str) -> None:
        if self.id is None:
            return
        self._last_update = time.monotonic()
        try:
            from prefect.artifacts import update_progress_artifact

            update_progress_artifact(artifact_id=self.id, progress=percent, description=description)
        except Exception as error:
            logger().debug("progress artifact update failed: %s", error)


class TableProgress:
    def __init__(self, table: str, rows_total: int | None, rows_done: int = 0):
        self.table = table
        self.rows_total = rows_total
        self.rows_done = rows_done
        self._started_rows = rows_done
        self._started = time.perf_counter()
        self._next_log = (rows_done // LOG_EVERY_ROWS + 1) * LOG_EVERY_ROWS
        self._log = logger()
        self._artifact = _Artifact(table, self.percent, self.description())
        if rows_done:
            self._log.info("%s: resuming after %s rows", table, f"{rows_done:,}")
        _emit(ProgressEvent("start", table, rows_done, rows_total))

    @property
    def percent(self) -> float:
        if self.rows_total is None:  # not counted yet (a mart still being built in parts)
            return 0.0
        if not self.rows_total:
            return 100.0
        return round(min(100.0, 100.0 * self.rows_done / self.rows_total), 1)

    def rate(self) -> float:
        elapsed = time.perf_counter() - self._started
        return (self.rows_done - self._started_rows) / elapsed if elapsed > 0 else 0.0

    def description(self, finished: bool = False) -> str:
        """`584,000 of 4,249,057 rows of ServerOnlineCounts, 212,400 rows/s, ETA 0m17s`."""
        total = "?" if self.rows_total is None else f"{self.rows_total:,}"
        text = f"{self.rows_done:,} of {total} rows of {self.table}"
        rate = self.rate()
        if finished:
            elapsed = time.perf_counter() - self._started
            return f"{text} staged in {format_duration(elapsed)} ({rate:,.0f} rows/s)"
        if rate > 0:
            text += f", {rate:,.0f} rows/s"
            if self.rows_total:
                text += f", ETA {format_duration((self.rows_total - self.rows_done) / rate)}"
        return text

    def expect(self, rows_total: int) -> None:
        """A new total (a mart built in parts: estimated from its first parts, then counted
        when its last part is in)."""
        self.rows_total = rows_total
        _emit(ProgressEvent("advance", self.table, self.rows_done, self.rows_total))

    def advance(self, rows: int) -> None:
        self.rows_done += rows
        _emit(ProgressEvent("advance", self.table, self.rows_done, self.rows_total))
        if self.rows_done >= self._next_log:
            self._next_log = (self.rows_done // LOG_EVERY_ROWS + 1) * LOG_EVERY_ROWS
            self._report()
        if self._artifact.due():
            self._artifact.update(self.percent, self.description())

    def _report(self) -> None:
        """The line every 10 000 rows, worded as the progress artifact: `ServerOnlineCounts:
        590,000 of 4,249,057 rows (13.9%), 212,400 rows/s, ETA 0m17s`."""
        rate = self.rate()
        eta = ""
        if self.rows_total and rate > 0:
            eta = f", ETA {format_duration((self.rows_total - self.rows_done) / rate)}"
        share = "" if self.rows_total is None else f" ({self.percent:.1f}%)"
        self._log.info(
            "%s: %s rows%s, %s rows/s%s",
            self.table,
            rows_text(self.rows_done, self.rows_total),
            share,
            f"{rate:,.0f}",
            eta,
        )

    def finish(self) -> None:
        self._artifact.update(100.0, self.description(finished=True))
        _emit(ProgressEvent("finish", self.table, self.rows_done, self.rows_total))
