"""The Prefect flow `backfill`: compute the marts in ClickHouse with dbt, load them into SQLite.

    plan -> build the models (dbt, in-process) -> load each service's tables -> reconcile
         -> record and summarise

Services run one after the other in the dbt DAG's order; a failing service is recorded and the
others go on; the flow run ends Failed when any service failed. Resuming comes from the SQLite
checkpoints (not from Prefect's result cache), so a retry from the Prefect UI, a rerun from the
CLI and a run after a crash all continue where the last one stopped.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from bfstats import as_of as as_of_text
from bfstats import catalog as catalog_module
from bfstats import config, dbt_invoke, loader, reconcile, telemetry
from bfstats.clickhouse_source import open_source
from bfstats.planning import RunPlan, ServicePlan, plan_run
from bfstats.progress import logger
from bfstats.sqlite_store import RunLedger, connect


class BackfillFailed(RuntimeError):
    """At least one service failed; the message lists them with their errors."""


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
    tables: list[dict] = field(default_factory=list)


def check_parameters(batch_size: int, as_of: str | None) -> str | None:
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a whole number of at least 1, got {batch_size!r}")
    return as_of_text.parse(as_of) if as_of else None


@task(name="describe-project", cache_policy=NO_CACHE)
def describe_project() -> catalog_module.Catalog:
    """Parse the dbt project: services, their marts and the marts' column types."""
    return catalog_module.load()


def dbt_vars(as_of: str) -> dict:
    variables = {"as_of": as_of}
    if os.environ.get("BFSTATS_SOURCE_DATABASE"):
        variables["source_database"] = os.environ["BFSTATS_SOURCE_DATABASE"]
    return variables


@task(name="build-models", cache_policy=NO_CACHE)
def build_models(plans: list[ServicePlan], as_of: str) -> dbt_invoke.DbtOutcome:
    """`dbt build` of the marts the services need and everything upstream, with their tests."""
    models = [table.model for plan in plans for table in plan.service.tables]
    log = logger()
    log.info("Building models with dbt (as_of %s): %s", as_of, ", ".join(models))
    started = time.perf_counter()
    outcome = dbt_invoke.run(
        # cautious: a test that also reads a mart outside this selection (which may not exist
        # yet) is not run; it runs with the services whose marts cover all its parents.
        [
            "build",
            "--select",
            *(f"+{model}" for model in models),
            "--indirect-selection",
            "cautious",
        ],
        dbt_vars(as_of),
    )
    log.info(
        "dbt build %s in %.1fs",
        "succeeded" if outcome.success else "FAILED",
        time.perf_counter() - started,
    )
    return outcome


def dbt_failures(plan: ServicePlan, outcome: dbt_invoke.DbtOutcome) -> list[str]:
    """What went wrong in dbt for this service's marts, their ancestors and their tests."""
    marts = {table.unique_id for table in plan.service.tables}
    if not outcome.node_status:
        return [outcome.messages.get("dbt", "dbt build failed before building any model")]
    ancestors, frontier = set(), set(marts)
    while frontier:
        node = frontier.pop()
        for parent in outcome.depends_on.get(node, []):
            if parent not in ancestors:
                ancestors.add(parent)
                frontier.add(parent)
    failed = outcome.failed_nodes()
    problems = []
    for unique_id in sorted(failed):
        attached_test = unique_id.startswith("test.") and marts & set(
            outcome.depends_on.get(unique_id, [])
        )
        in_lineage = unique_id in marts or unique_id in ancestors
        if attached_test or in_lineage:
            status = outcome.node_status[unique_id]
            problems.append(f"{unique_id} {status}: {outcome.messages.get(unique_id, '')}".strip())
    for unique_id in sorted(marts - set(outcome.node_status)):
        problems.append(f"dbt did not build {unique_id}")
    return problems


@task(name="load-service", task_run_name="load {plan.service.name}", cache_policy=NO_CACHE)
def load_service(
    plan: ServicePlan,
    *,
    as_of: str,
    build: dbt_invoke.DbtOutcome,
    sqlite_path: str,
    source,
    batch_size: int,
) -> ServiceResult:
    """Load every table of one service, reconcile it, and record the outcome."""
    service = plan.service
    log = logger()
    conn = connect(sqlite_path)
    ledger = RunLedger(conn)
    result = ServiceResult(service.name, "failed", as_of, plan.run_id)
    started = time.perf_counter()
    log.info("%s: %s", service.name, plan.reason)
    try:
        with telemetry.span(
            "bfstats.service",
            query_name=f"backfill {service.name}",
            table=",".join(table.sqlite_table for table in service.tables),
        ) as span:
            problems = dbt_failures(plan, build)
            if problems:
                raise dbt_invoke.DbtError(
                    f"dbt could not build the models of {service.name}: " + "; ".join(problems)
                )
            loaded = []
            for spec in service.tables:
                load = loader.load_table(
                    conn, source, spec, run_id=plan.run_id, as_of=as_of, batch_size=batch_size
                )
                result.tables.append(asdict(load))
                loaded.append((spec, load.rows_expected))
            # Row counts and the generated dbt-sqlite checks, cross-table ones among the
            # service's tables included.
            reconcile.check_tables(conn, loaded).raise_if_failed()
            span.row_count = sum(t["rows_written"] for t in result.tables)
        result.status = "completed"
    except Exception as error:
        result.error = f"{type(error).__name__}: {error}"
        log.error("%s failed: %s", service.name, result.error)
    finally:
        # Also for a failed service: what its tables published before the failure.
        if result.tables:
            result.rows_expected = sum(t["rows_expected"] for t in result.tables)
        result.rows_written = sum(t["rows_written"] for t in result.tables)
        result.seconds = round(time.perf_counter() - started, 3)
        ledger.finish(
            plan.run_id,
            service.name,
            status=result.status,
            rows_expected=result.rows_expected,
            rows_written=result.rows_written,
            duration_seconds=result.seconds,
            error=result.error,
        )
        conn.close()
    if result.status == "failed":
        raise BackfillFailed(f"{service.name}: {result.error}")
    return result


def skipped_result(plan: ServicePlan, ledger: RunLedger) -> ServiceResult:
    record = ledger.latest(plan.service.name)
    return ServiceResult(
        plan.service.name,
        "skipped",
        record.as_of,
        record.run_id,
        record.rows_expected,
        record.rows_written,
        error=None,
    )


def publish_summary(results: list[ServiceResult], plan: RunPlan, sqlite_path: str) -> None:
    """A table artifact in the Prefect UI and a log block with one line per service."""
    rows = [
        {
            "service": r.service,
            "status": r.status,
            "as_of": r.as_of,
            "rows_expected": r.rows_expected,
            "rows_written": r.rows_written,
            "seconds": r.seconds,
            "error": r.error or "",
        }
        for r in results
    ]
    log = logger()
    for row in rows:
        log.info(
            "%-26s %-9s rows %s/%s in %.1fs %s",
            row["service"],
            row["status"],
            row["rows_written"],
            row["rows_expected"],
            row["seconds"],
            row["error"],
        )
    try:
        from prefect.artifacts import create_table_artifact

        create_table_artifact(
            table=rows,
            key="backfill-summary",
            description=f"Backfill into {sqlite_path} with as_of {plan.as_of}",
        )
    except Exception as error:  # the summary artifact is a convenience, never a failure
        log.debug("no summary artifact: %s", error)


def current_flow_run_id() -> str | None:
    from prefect.runtime import flow_run

    return flow_run.id


@flow(
    name="backfill",
    description="Compute the bfstats marts in ClickHouse with dbt and "
    "backfill them into the API's SQLite database, resumably.",
)
def backfill(
    services: list[str] = ["all"],  # noqa: B006 - Prefect parameters are copied per run
    as_of: str | None = None,
    batch_size: int = 1000,
    force: bool = False,
    sqlite_path: str | None = None,
) -> list[dict]:
    requested_as_of = check_parameters(batch_size, as_of)
    sqlite_file = str(config.sqlite_path(sqlite_path))
    catalog = describe_project()
    selected = catalog.select(services)
    flow_run_id = current_flow_run_id()
    conn = connect(sqlite_file)
    ledger = RunLedger(conn)
    plan = plan_run(
        ledger, selected, requested_as_of=requested_as_of, force=force, flow_run_id=flow_run_id
    )
    log = logger()
    log.info(
        "Backfill into %s, as_of %s: %s",
        sqlite_file,
        plan.as_of,
        ", ".join(f"{p.service.name} ({p.action})" for p in plan.services),
    )

    results = [skipped_result(p, ledger) for p in plan.skipped]
    # Recorded before dbt runs, so that a run killed even during dbt is resumed with its as_of.
    for service_plan in plan.to_load:
        ledger.start(service_plan.run_id, service_plan.service.name, plan.as_of, flow_run_id)
    if plan.to_load:
        build = build_models(plan.to_load, plan.as_of)
        source = open_source(config.load_target())
        try:
            for service_plan in plan.to_load:
                state = load_service(
                    service_plan,
                    as_of=plan.as_of,
                    build=build,
                    sqlite_path=sqlite_file,
                    source=source,
                    batch_size=batch_size,
                    return_state=True,
                )
                results.append(
                    state.result() if state.is_completed() else failed_result(service_plan, ledger)
                )
        finally:
            source.close()
            telemetry.flush()
    conn.close()
    order = {name: i for i, name in enumerate(catalog.names)}
    results.sort(key=lambda r: order[r.service])
    publish_summary(results, plan, sqlite_file)
    failed = [r for r in results if r.status == "failed"]
    if failed:
        raise BackfillFailed(
            f"{len(failed)} of {len(results)} services failed: "
            + " | ".join(f"{r.service}: {r.error}" for r in failed)
        )
    return [asdict(r) for r in results]


def failed_result(plan: ServicePlan, ledger: RunLedger) -> ServiceResult:
    record = ledger.get(plan.run_id, plan.service.name)
    return ServiceResult(
        plan.service.name,
        "failed",
        record.as_of,
        record.run_id,
        record.rows_expected,
        record.rows_written,
        record.duration_seconds or 0.0,
        record.error,
    )
