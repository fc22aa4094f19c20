"""What a run did, in one shape for every reader: the flow's log, the Prefect summary artifact,
the CLI's closing table and the run ledger behind `bfstats status`.

`Recorder` follows the flow's steps as they end; once every step of a service has ended it
records the service in the ledger (completed, or failed with the first error) and logs one line.
`Report` turns the services' results into the outcome line ("5 of 6 services completed;
player-milestones failed: schema drift"), the markdown summary artifact and plain dicts.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import asdict, dataclass, field

from bfstats.errors import BfstatsError
from bfstats.pipeline import COMPLETED, FAILED, SKIPPED, Outcome
from bfstats.planning import RunPlan, ServicePlan
from bfstats.progress import rows_text
from bfstats.sqlite_store import Checkpoints, RunLedger, transaction

SUMMARY_KEY = "backfill-summary"


@dataclass
class TableResult:
    table: str
    status: str  # completed, failed, skipped (already published), not run
    rows_expected: int | None = None
    rows_written: int = 0
    load_seconds: float = 0.0
    publish_seconds: float = 0.0
    check_seconds: float = 0.0
    error: str | None = None

    @property
    def seconds(self) -> float:
        return self.load_seconds + self.publish_seconds + self.check_seconds


@dataclass
class ServiceResult:
    service: str
    status: str  # completed, failed, skipped
    as_of: str
    run_id: str
    rows_expected: int | None = None
    rows_written: int = 0
    seconds: float = 0.0
    error: str | None = None
    kind: str | None = None  # failed: a few words, e.g. "schema drift"
    failed_step: str | None = None
    tables: list[TableResult] = field(default_factory=list)


def skipped(plan: ServicePlan, ledger: RunLedger) -> ServiceResult:
    record = ledger.latest(plan.service.name)
    return ServiceResult(
        plan.service.name,
        "skipped",
        record.as_of,
        record.run_id,
        record.rows_expected,
        record.rows_written,
        tables=[TableResult(spec.sqlite_table, "skipped") for spec in plan.service.tables],
    )


def record_safely(log, what: str, write, *args, **kwargs) -> None:
    """A ledger write at the end of a service or run. It must not turn a failure into a crash
    of the flow (a full disk refuses this write too): when it fails it is logged, and the run
    row stays `running`, which `bfstats status` reports as interrupted once the run is gone."""
    try:
        with transaction(write.__self__.conn, what=f"recording {what}"):
            write(*args, **kwargs)
    except (BfstatsError, sqlite3.Error) as error:
        log.warning("could not record %s in the SQLite file: %s", what, error)


class Recorder:
    """Records each service in the ledger as soon as all of its steps have ended."""

    def __init__(self, ledger: RunLedger, plan: RunPlan, service_steps: dict, log, spans: dict):
        self._ledger, self._log, self._spans = ledger, log, spans
        self._plans = {p.service.name: p for p in plan.to_load}
        self._as_of = plan.as_of
        self._steps = service_steps
        self._waiting = {service: set(steps) for service, steps in service_steps.items()}
        self._outcomes: dict[str, Outcome] = {}
        self._ended: dict[str, float] = {}
        self._started = time.perf_counter()
        self.results: dict[str, ServiceResult] = {}

    def step_ended(self, name: str, outcome: Outcome) -> None:
        self._outcomes[name] = outcome
        self._ended[name] = time.perf_counter()
        for service, waiting in self._waiting.items():
            waiting.discard(name)
            if not waiting and service not in self.results:
                self.results[service] = self._finish(service)

    def _finish(self, service: str) -> ServiceResult:
        plan = self._plans[service]
        result = ServiceResult(service, "failed", self._as_of, plan.run_id)
        # From its first step's start to its last step's end (services overlap in a run).
        ran = [n for n in self._steps[service] if self._outcomes[n].status != SKIPPED]
        starts = [self._ended[n] - self._outcomes[n].seconds for n in ran]
        result.seconds = round(max(self._ended[n] for n in ran) - min(starts), 3) if ran else 0.0
        checkpoints = Checkpoints(self._ledger.conn)
        for spec in plan.service.tables:
            result.tables.append(self._table(spec.sqlite_table, checkpoints, plan.run_id))
        failure = self._first_failure(service)
        if failure is None and all(t.status == COMPLETED for t in result.tables):
            result.status = "completed"
        elif failure is not None:
            result.failed_step, outcome = failure
            result.error, result.kind = outcome.error, outcome.kind
        else:  # nothing failed but something did not run: the run was stopped
            result.error, result.kind = "the run was stopped before it finished", "interrupted"
        known = [t.rows_expected for t in result.tables]
        result.rows_expected = None if None in known else sum(known)
        result.rows_written = sum(t.rows_written for t in result.tables)
        record_safely(
            self._log,
            f"the end of {service}",
            self._ledger.finish,
            plan.run_id,
            service,
            status=result.status,
            rows_expected=result.rows_expected,
            rows_written=result.rows_written,
            duration_seconds=result.seconds,
            error=result.error,
        )
        self._spans[service].end(result.rows_written)
        self._log.info("%s", service_line(result))
        return result

    def interrupted(self, reason: str) -> None:
        """The run was stopped: every service not yet recorded is, as interrupted, with the
        rows its tables checkpointed."""
        waiting = [service for service in self._plans if service not in self.results]
        record_safely(self._log, "the interruption", self._ledger.interrupt, None, waiting, reason)
        for service in waiting:
            self._spans[service].end(0)

    def _first_failure(self, service: str) -> tuple[str, Outcome] | None:
        """The service's first failed step, or the failed step (outside the service, e.g. a
        mart it reads) that kept its steps from running."""
        outcomes = [(name, self._outcomes[name]) for name in self._steps[service]]
        mine = {spec.sqlite_table for spec in self._plans[service].service.tables}
        for name, outcome in outcomes:
            # A check across tables fails only the services whose tables it found wrong.
            blamed = getattr(outcome.value, "tables", None)
            if outcome.status == FAILED and (not blamed or set(blamed) & mine):
                return name, outcome
        for _, outcome in outcomes:
            if outcome.cause and outcome.cause in self._outcomes:
                return outcome.cause, self._outcomes[outcome.cause]
        return None

    def _table(self, table: str, checkpoints: Checkpoints, run_id: str) -> TableResult:
        load = self._outcomes.get(f"load {table}")
        publish = self._outcomes.get(f"publish {table}")
        check = self._outcomes.get(f"check {table}")
        result = TableResult(table, "not run")
        if load and load.status == COMPLETED:
            staged = load.value
            result.rows_expected, result.rows_written = staged.rows_expected, staged.rows_written
            result.load_seconds = staged.seconds
        else:
            point = checkpoints.get(table)
            if point is not None and point.run_id == run_id:  # not a row of an earlier run
                result.rows_expected, result.rows_written = point.rows_expected, point.rows_written
        if publish and publish.status == COMPLETED:
            result.publish_seconds = publish.value.seconds
        if check and check.status == COMPLETED:
            result.check_seconds = check.value
            result.status = COMPLETED
        for name in (f"load {table}", f"publish {table}", f"check {table}"):
            outcome = self._outcomes.get(name)
            if outcome and outcome.status == FAILED:
                result.status, result.error = FAILED, outcome.error
                break
        return result


def service_line(result: ServiceResult) -> str:
    rows = rows_text(result.rows_written, result.rows_expected)
    if result.status == "completed":
        load = sum(t.load_seconds for t in result.tables)
        publish = sum(t.publish_seconds for t in result.tables)
        checks = sum(t.check_seconds for t in result.tables)
        return (
            f"{result.service}: completed, {rows} rows in {result.seconds:.1f}s "
            f"(load {load:.1f}s, publish {publish:.1f}s, checks {checks:.1f}s)"
        )
    if result.status == "skipped":
        return f"{result.service}: skipped, completed earlier with as_of {result.as_of}"
    return (
        f"{result.service}: FAILED ({result.kind}) at {result.failed_step or 'the start'}, "
        f"{rows} rows written"
    )


@dataclass
class Report:
    as_of: str
    sqlite_path: str
    services: list[ServiceResult]

    @property
    def failed(self) -> list[ServiceResult]:
        return [s for s in self.services if s.status == FAILED]

    def outcome_line(self) -> str:
        done = [s for s in self.services if s.status != FAILED]
        skipped = [s for s in done if s.status == "skipped"]
        line = f"{len(done)} of {len(self.services)} services completed"
        if skipped:
            line += f" ({len(skipped)} already complete, skipped)"
        if self.failed:
            line += "; " + ", ".join(f"{s.service} failed: {s.kind}" for s in self.failed)
        return line

    def failures(self) -> list[tuple[list[str], str | None, str | None]]:
        """(services, kind, error) per distinct error: one cause that failed several services
        (missing source tables, an unreachable server) is told once, with all of them."""
        grouped: dict[tuple, list[str]] = {}
        for service in self.failed:
            grouped.setdefault((service.kind, service.error), []).append(service.service)
        return [(services, kind, error) for (kind, error), services in grouped.items()]

    def failure_message(self) -> str:
        """The flow run's final state message: the outcome, then each failure in full."""
        return "\n".join(
            [self.outcome_line(), *(f"- {', '.join(s)}: {e}" for s, _, e in self.failures())]
        )

    def markdown(self) -> str:
        lines = [
            f"**{self.outcome_line()}**",
            "",
            f"SQLite file `{self.sqlite_path}`, as_of `{self.as_of}`",
            "",
            "| service | table | status | rows written | load (s) | publish (s) | checks (s) |",
            "|---|---|---|---:|---:|---:|---:|",
        ]
        for service in self.services:
            for table in service.tables or [TableResult("-", service.status)]:
                if service.status == "skipped":
                    cells = ["skipped", "completed earlier", "", "", ""]
                else:
                    rows = (
                        rows_text(table.rows_written, table.rows_expected)
                        if table.rows_expected is not None or table.rows_written
                        else "-"
                    )
                    cells = [
                        table.status,
                        rows,
                        f"{table.load_seconds:.1f}",
                        f"{table.publish_seconds:.1f}",
                        f"{table.check_seconds:.1f}",
                    ]
                lines.append(f"| {service.service} | {table.table} | " + " | ".join(cells) + " |")
        for services, kind, error in self.failures():
            # A quote, not a code block: the UI wraps it, where a code block runs off the right.
            lines += ["", f"### {', '.join(services)} failed ({kind})", ""]
            lines += [f"> {_markdown_text(line)}" for line in (error or "").splitlines()]
        return "\n".join(lines)

    def as_dicts(self) -> list[dict]:
        return [asdict(s) for s in self.services]


def _markdown_text(line: str) -> str:
    """A line shown as written: markdown's own characters escaped (names hold `_` and `*`)."""
    return "".join("\\" + c if c in "\\`*_{}[]<>#|" else c for c in line) or " "


def publish(report: Report, log) -> None:
    """The summary in the flow's log (one line per service) and as a Prefect artifact."""
    for service in report.services:
        if service.status == "skipped":  # loaded services were logged as they ended
            log.info("%s", service_line(service))
    log.info("%s", report.outcome_line())
    try:
        from prefect.artifacts import create_markdown_artifact
        from prefect.context import FlowRunContext

        if FlowRunContext.get() is not None:
            create_markdown_artifact(
                markdown=report.markdown(), key=SUMMARY_KEY, description=report.outcome_line()
            )
    except Exception as error:  # the summary artifact is a convenience, never a failure
        log.warning("no summary artifact: %s", error)
