"""The published tables of one run that wait for their checks, checked together.

Every dbt invocation of the process takes the one dbt lane (`dbt_invoke.one_at_a_time`), and a
table's checks (row count, its dbt-sqlite tests) wait there behind the marts' builds and the other
tables' checks. Tables published meanwhile then each paid a dbt invocation of their own, one after
the other: at the end of `backfill all` four small tables waited behind PlayerMapStats' checks
and took 2.1 s in four invocations (0.2-0.9 s each). Here the first of them to reach the lane
checks every table waiting at that moment in one invocation, and each waiter gets its own
table's outcomes back.

What a table's check means does not change: its row count and its own tests, judged for that
table alone (one table failing fails only its service); tests that read several tables stay
with the run's "check across tables" step, which runs once every table passed its own.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future
from dataclasses import dataclass, field

from bfstats import dbt_invoke, reconcile
from bfstats.catalog import TableSpec
from bfstats.progress import logger


@dataclass
class _Request:
    spec: TableSpec
    rows_expected: int
    outcome: Future = field(default_factory=Future)


class CheckBatches:
    """One run's table checks (`check`), batched while they wait for the dbt lane."""

    def __init__(self, sqlite_path: str, as_of: str | None) -> None:
        self.sqlite_path = sqlite_path
        self.as_of = as_of
        self._waiting: list[_Request] = []
        self._lock = threading.Lock()

    def check(self, spec: TableSpec, rows_expected: int) -> reconcile.CheckResult:
        """The row count and the own dbt-sqlite tests of a published table: its CheckResult,
        made alone or together with other tables that waited at the same time."""
        request = _Request(spec, rows_expected)
        with self._lock:
            self._waiting.append(request)
        with dbt_invoke.one_at_a_time:
            if not request.outcome.done():
                with self._lock:
                    batch, self._waiting = self._waiting, []
                self._run(batch)
        return request.outcome.result()

    def _run(self, batch: list[_Request]) -> None:
        if len(batch) > 1:
            logger().info(
                "checking %s together (published while the dbt lane was busy)",
                ", ".join(request.spec.sqlite_table for request in batch),
            )
        try:
            together = reconcile.check_tables(
                self.sqlite_path,
                [(request.spec, request.rows_expected) for request in batch],
                own_only=True,
                as_of=self.as_of,
            )
        except BaseException as error:  # every waiter learns why its checks did not run
            for request in batch:
                request.outcome.set_exception(error)
            if not isinstance(error, Exception):
                raise
            return
        for request in batch:
            table = request.spec.sqlite_table
            request.outcome.set_result(
                reconcile.CheckResult(
                    together.sqlite_file,
                    [table],
                    [outcome for outcome in together.outcomes if outcome.table == table],
                    together.seconds,
                )
            )
