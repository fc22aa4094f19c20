"""The Prefect flow `backfill`: compute the marts in ClickHouse with dbt, load them into SQLite.

    describe project -> plan (skip / resume / fresh per service)
    -> each step as soon as what it needs is done, per mart and its SQLite table:
         build <mart> -> test <mart> -----------------.
                      `-> load <Table> ----------> publish <Table> -> check <Table>
    -> record each service as its steps end -> summary

ClickHouse work (one dbt invocation at a time) and SQLite writes (one table at a time) overlap:
a mart's rows stream into SQLite while ClickHouse runs its tests and builds the next mart, and a
table is published only when its mart's tests passed. A mart whose YAML asks for it builds in
parts (`build <mart>` the first, `build <mart> (other parts)` the rest; build_parts): its load
starts with the first part and takes each next one as it is built. A failing service is
recorded and the others go on; the flow run ends Failed when any failed. Resuming comes from
the SQLite checkpoints (not from Prefect's result cache), so a retry from the Prefect UI, a
rerun from the CLI and a run after a crash all continue where the last one stopped, with the
same `as_of`.
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextvars
import functools
import re
import threading
from contextlib import closing
from dataclasses import dataclass

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.states import Failed
from prefect.task_runners import ThreadPoolTaskRunner

from bfstats import as_of as as_of_text
from bfstats import (
    build_parts,
    check_batches,
    config,
    dbt_invoke,
    engine_priority,
    heartbeats,
    load_order,
    loader,
    mart_state,
    marts,
    prefect_logs,
    reconcile,
    stopping,
    summary,
    telemetry,
)
from bfstats import catalog as catalog_module
from bfstats.clickhouse_source import ClickHouseError, open_source
from bfstats.errors import BfstatsError, RunInterrupted
from bfstats.pipeline import Pipeline, Result
from bfstats.planning import RunPlan, plan_run
from bfstats.progress import logger
from bfstats.sqlite_store import (
    Builds,
    Checkpoints,
    RunLedger,
    RunLock,
    connect,
    quote,
    transaction,
)

prefect_logs.install()


class BackfillFailed(BfstatsError):
    """At least one service failed; the message lists them with their errors, `results` holds
    every service's result (what the CLI's closing table shows)."""

    kind = "services failed"

    def __init__(self, message: str, results: list[dict]):
        super().__init__(message)
        self.results = results

    def __reduce__(self):  # Prefect may pickle a state's data
        return type(self), (str(self), self.results)


class Unwalked:
    """Holds a value that task parameters carry without Prefect walking into it. Prefect walks
    every dataclass, list and dict in a task's parameters (twice: to find futures when the task
    is submitted, and to resolve them when it starts, rebuilding each dataclass); through dbt's
    Manifest that took 0.5 s of CPU per task, with the GIL held, so some 20 s of a full
    backfill. A plain object is passed as it is."""

    __slots__ = ("value",)

    def __init__(self, value: object):
        self.value = value


@dataclass(frozen=True)
class RunSettings:
    """What every step of one run needs to know."""

    as_of: str
    sqlite_path: str
    batch_size: int
    allow_shrink: bool
    target: config.Target
    run_ids: dict  # service -> run id
    parsed: Unwalked  # dbt's parsed Manifest (marts' code and lineage): see `manifest`
    reuse_marts: bool  # every service resumes: a mart the interrupted run built may be reused
    build_run_id: str  # recorded with the marts this run builds
    spans: dict  # service -> telemetry.LongSpan: the service's span, parent of its batches
    # check_batches.CheckBatches: the tables' checks, batched at the dbt lane (made here unless
    # given)
    checks: Unwalked | None = None
    # Unwalked({model: build_parts.PartsBuilt}): the marts built in parts (what their loads
    # wait on)
    parts: Unwalked | None = None

    def __post_init__(self) -> None:
        if self.checks is None:
            batches = check_batches.CheckBatches(self.sqlite_path, self.as_of)
            object.__setattr__(self, "checks", Unwalked(batches))

    def run_id(self, service: str) -> str:
        return self.run_ids[service]

    @property
    def manifest(self):
        return self.parsed.value

    def parts_of(self, model: str) -> build_parts.PartsBuilt | None:
        return None if self.parts is None else self.parts.value.get(model)


def check_parameters(batch_size: int, as_of: str | None) -> str | None:
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a whole number of at least 1, got {batch_size!r}")
    config.min_row_fraction()  # raises UsageError before anything runs
    config.clickhouse_nice()
    if not as_of:
        return None
    instant = as_of_text.parse(as_of)
    as_of_text.refuse_future(instant)
    return instant


def expected_failures(function):
    """An expected failure (a BfstatsError) ends the task Failed with its message, logged once at
    ERROR without a traceback; anything else keeps Prefect's traceback."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except BfstatsError as error:
            logger().error("%s", error)
            error.logged = True  # the flow must not log it again
            return Failed(message=str(error), data=error)

    return wrapper


@task(name="describe project", task_run_name="describe project", cache_policy=NO_CACHE)
@expected_failures
def describe_project() -> catalog_module.Catalog:
    """Parse the dbt project (once per process): services, marts and their column types."""
    return catalog_module.load()


@dataclass(frozen=True)
class MartBuild:
    model: str
    reused: bool  # built by the interrupted run this one resumes, and unchanged since
    tested: bool  # its data tests passed for that build
    # Unwalked(Future) of the build's record in SQLite when it is still being written.
    recording: Unwalked | None = None
    # Built in parts: the parts its first step left to the next (build_rest)
    parts_left: tuple[build_parts.Part, ...] = ()

    def recorded(self) -> None:
        """Wait for the build's record; raises what kept it from being written."""
        if self.recording is not None:
            self.recording.value.result()


def _in_background(work) -> concurrent.futures.Future:
    """`work()` in a thread of its own, in the current Prefect context (its logs go to the step
    that started it); the future holds its result or its error."""
    future: concurrent.futures.Future = concurrent.futures.Future()
    context = contextvars.copy_context()

    def run() -> None:
        try:
            future.set_result(context.run(work))
        except BaseException as error:  # noqa: BLE001 - handed to whoever waits for it
            future.set_exception(error)

    threading.Thread(target=run, name="bfstats record", daemon=True).start()
    return future


def build_or_reuse(
    name: str,
    unique_ids: list[str],
    run: RunSettings,
    build,
    tested: bool,
    tables: tuple[catalog_module.TableSpec, ...] = (),
):
    """`build()` the nodes, or, when the run resumes, reuse what the interrupted run built if
    their fingerprint is unchanged (mart_state); record what was built. `tested`: the build
    runs the nodes' tests too. `tables`: the SQLite tables this run loads from the nodes (a
    resume that builds them again loads them again from the start: `_start_over`)."""
    with closing(open_source(run.target)) as source:
        earlier = _earlier_build(name, run)
        reused = _reuse(earlier, unique_ids, run, source)
        if reused is not None:
            return reused
        _start_over(earlier, unique_ids, tables, run, source)
        return _build_whole(name, unique_ids, run, source, build, tested)


def _build_whole(name: str, unique_ids: list[str], run: RunSettings, source, build, tested):
    logger().info("Building %s in ClickHouse for as_of %s", name, run.as_of)
    outcome = build()
    logger().info("Built %s in %s", name, _dbt_time(outcome))
    return _record(name, unique_ids, run, source, tested)


def _earlier_build(name: str, run: RunSettings):
    """The record of the interrupted run's build of `name` when this run resumes, else None."""
    if not run.reuse_marts:
        return None
    with closing(connect(run.sqlite_path)) as conn:
        return Builds(conn).get(name)


def _reuse(earlier, unique_ids: list[str], run: RunSettings, source) -> MartBuild | None:
    """What the interrupted run this one resumes built (`earlier`), when it is still valid."""
    if earlier is None or earlier.as_of != run.as_of:
        return None
    if "partial" in earlier.fingerprint:
        logger().info("Rebuilding %s: the interrupted run built only part of it", earlier.model)
        return None
    variables = marts.dbt_vars(run.as_of)
    if mart_state.fingerprint(run.manifest, unique_ids, variables, source) != earlier.fingerprint:
        logger().info("Rebuilding %s: it changed since the interrupted run built it", earlier.model)
        return None
    logger().info(
        "Reusing %s, built at %s for as_of %s: its code, its source data and the table are "
        "unchanged since",
        earlier.model,
        earlier.built_at,
        run.as_of,
    )
    return MartBuild(earlier.model, reused=True, tested=earlier.tested)


def _start_over(earlier, unique_ids: list[str], tables, run: RunSettings, source) -> None:
    """A resume builds the mart again: before its loads begin (they wait for the build, or for
    its first part) their rows of the earlier build go - unless that build was cut short and
    the mart is rebuilt from the same code and raw data (mart_state.partial_fingerprint)."""
    if not (run.reuse_marts and tables):
        return
    if (
        earlier is not None
        and earlier.as_of == run.as_of
        and "partial" in earlier.fingerprint
        and earlier.fingerprint
        == mart_state.partial_fingerprint(
            run.manifest, unique_ids, marts.dbt_vars(run.as_of), source
        )
    ):
        logger().info(
            "%s: its code and raw data are unchanged since the interrupted run began building "
            "it, so the rows loaded from that build stay and the loads go on from their "
            "checkpoints",
            earlier.model,
        )
        return
    with (
        closing(connect(run.sqlite_path)) as conn,
        transaction(conn, what="discarding the loads of an earlier build"),
    ):
        _restart_loads(conn, tables, run)


def _record(name: str, unique_ids: list[str], run: RunSettings, source, tested: bool) -> MartBuild:
    """Record the build (with its fingerprint) in SQLite."""
    fingerprint = mart_state.fingerprint(
        run.manifest, unique_ids, marts.dbt_vars(run.as_of), source
    )

    def record() -> None:
        with (
            closing(connect(run.sqlite_path)) as conn,
            transaction(conn, what=f"recording the build of {name}"),
        ):
            builds = Builds(conn)
            builds.record(name, run_id=run.build_run_id, as_of=run.as_of, fingerprint=fingerprint)
            if tested:
                builds.mark_tested(name)

    if run.reuse_marts:
        record()
        return MartBuild(name, reused=False, tested=tested)
    # The record waits for the SQLite write lock, which a load or a publish may hold for
    # seconds; the next build does not wait with it. The mart's test step does, and a run
    # stopped before the record is written builds the mart again when it resumes.
    return MartBuild(name, reused=False, tested=tested, recording=Unwalked(_in_background(record)))


@task(name="build seeds", cache_policy=NO_CACHE)
@expected_failures
def build_seeds(plan: marts.BuildPlan, run: RunSettings) -> None:
    """Load the seeds the marts read, with their own tests: a second, every run (a mart's
    fingerprint holds the seeds' files, not their tables, so reloading them changes nothing)."""
    outcome = marts.build_seeds(plan, run.as_of, run.target)
    logger().info("Loaded the seeds %s in %s", ", ".join(plan.seeds), _dbt_time(outcome))


@task(name="build", cache_policy=NO_CACHE)
@expected_failures
def build_mart(
    mart: marts.Mart, run: RunSettings, tables: tuple[catalog_module.TableSpec, ...] = ()
) -> MartBuild:
    """`dbt run` of one mart (or the one the interrupted run built, when still valid).
    `tables`: the SQLite tables this run loads from the mart."""
    parts = run.parts_of(mart.model)
    if parts is None:
        return build_or_reuse(
            mart.model,
            [mart.unique_id],
            run,
            lambda: marts.build(mart, run.as_of, run.target),
            tested=False,
            tables=tables,
        )
    return _build_first_part(mart, run, tables, parts)


def _build_first_part(mart: marts.Mart, run: RunSettings, tables, parts) -> MartBuild:
    """The first part of a mart built in parts (the whole mart when it cannot be cut, or the
    interrupted run's build when still valid); its loads start when this step ends."""
    log = logger()
    with closing(open_source(run.target)) as source:
        earlier = _earlier_build(mart.model, run)
        reused = _reuse(earlier, [mart.unique_id], run, source)
        if reused is not None:
            parts.all_built()
            return reused
        _start_over(earlier, [mart.unique_id], tables, run, source)
        ranges = build_parts.plan(run.manifest, mart.model, mart.unique_id, source)
        if not ranges:
            built = _build_whole(
                mart.model,
                [mart.unique_id],
                run,
                source,
                lambda: marts.build(mart, run.as_of, run.target),
                tested=False,
            )
            parts.all_built()
            return built
        parts.plan(len(ranges))
        log.info(
            "Building %s in ClickHouse for as_of %s in %d parts (ranges of %s), so that its "
            "first rows load while the rest builds",
            mart.model,
            run.as_of,
            len(ranges),
            build_parts.setting(run.manifest.nodes[mart.unique_id]).column,
        )
        partial = mart_state.partial_fingerprint(
            run.manifest, [mart.unique_id], marts.dbt_vars(run.as_of), source
        )
        outcome = marts.build(mart, run.as_of, run.target, part=ranges[0])
        # Before its loads begin: a resume after a crash must know what their rows came from.
        with (
            closing(connect(run.sqlite_path)) as conn,
            transaction(conn, what=f"recording the first part of {mart.model}"),
        ):
            Builds(conn).record(
                mart.model, run_id=run.build_run_id, as_of=run.as_of, fingerprint=partial
            )
        parts.built(1)
        log.info("Built part 1 of %d of %s in %s", len(ranges), mart.model, _dbt_time(outcome))
    return MartBuild(mart.model, reused=False, tested=False, parts_left=tuple(ranges[1:]))


@task(name="build", cache_policy=NO_CACHE)
@expected_failures
def build_rest(mart: marts.Mart, first: MartBuild, run: RunSettings) -> MartBuild:
    """The other parts of a mart built in parts, appended to the table one after the other
    (each one's rows load as soon as it is in); then the build is recorded."""
    if not first.parts_left:
        return first  # reused, or built whole by the first step
    log = logger()
    parts = run.parts_of(mart.model)
    count = parts.parts
    try:
        with closing(open_source(run.target)) as source:
            for number, part in enumerate(first.parts_left, start=2):
                outcome = marts.build(mart, run.as_of, run.target, part=part)
                parts.built(number)
                log.info(
                    "Built part %d of %d of %s in %s", number, count, mart.model, _dbt_time(outcome)
                )
            return _record(mart.model, [mart.unique_id], run, source, tested=False)
    except BaseException as error:
        parts.failed(error)
        raise


def _restart_loads(conn, tables, run: RunSettings) -> None:
    """A resume builds a mart again (it changed, or the interrupted run had not recorded it):
    rows its tables staged or published in this run came from the earlier build, so their
    loads start over rather than continue after a key of other data."""
    checkpoints = Checkpoints(conn)
    for spec in tables:
        point = checkpoints.get(spec.sqlite_table)
        if point is None or point.run_id != run.run_id(spec.service):
            continue
        conn.execute(f"DROP TABLE IF EXISTS {quote(loader.staging_name(spec))}")
        checkpoints.discard(spec.sqlite_table)
        logger().info(
            "%s: loading it again from the start (its %s rows came from the earlier build of %s)",
            spec.sqlite_table,
            f"{point.rows_written:,}",
            spec.model,
        )


@task(name="test", cache_policy=NO_CACHE)
@expected_failures
def test_mart(mart: marts.Mart, built: MartBuild, run: RunSettings) -> int:
    """The mart's dbt data tests in ClickHouse (a reused mart whose tests passed: skipped)."""
    log = logger()
    if built.reused and built.tested:
        log.info("%s: its data tests passed for this build already", mart.model)
        return 0
    outcome = marts.test(mart, run.as_of, run.target)
    tested = outcome.tests_run() if outcome else 0
    built.recorded()
    with (
        closing(connect(run.sqlite_path)) as conn,
        transaction(conn, what=f"recording the tests of {mart.model}"),
    ):
        Builds(conn).mark_tested(mart.model)
    log.info("%s: %d data tests passed in %s", mart.model, tested, _dbt_time(outcome))
    return tested


def _dbt_time(outcome) -> str:
    """`9.8s` (dbt's own time), `9.8s (after 3.1s waiting for dbt)` when it queued."""
    if outcome is None:
        return "0.0s"
    text = f"{outcome.seconds:.1f}s"
    return text + (
        f" (after {outcome.waited:.1f}s waiting for dbt)" if outcome.waited >= 0.1 else ""
    )


@task(name="load", cache_policy=NO_CACHE)
@expected_failures
def load_table(spec: catalog_module.TableSpec, run: RunSettings) -> loader.StagedTable:
    source = open_source(run.target)
    conn = connect(run.sqlite_path)
    try:
        with run.spans[spec.service].inside():
            return loader.stage_table(
                conn,
                source,
                spec,
                run_id=run.run_id(spec.service),
                as_of=run.as_of,
                batch_size=run.batch_size,
                allow_shrink=run.allow_shrink,
                parts=run.parts_of(spec.model),
            )
    finally:
        conn.close()
        source.close()


@task(name="publish", cache_policy=NO_CACHE)
@expected_failures
def publish_table(
    spec: catalog_module.TableSpec, staged: loader.StagedTable, run: RunSettings
) -> loader.PublishedTable:
    conn = connect(run.sqlite_path)
    try:
        with run.spans[spec.service].inside():
            return loader.publish_table(conn, spec, staged)
    finally:
        conn.close()


@task(name="check", cache_policy=NO_CACHE)
@expected_failures
def check_table(
    spec: catalog_module.TableSpec, published: loader.PublishedTable, run: RunSettings
) -> float:
    """The row count equals the mart's, then the table's dbt-sqlite checks."""
    log = logger()
    log.info("%s: checking the published table", spec.sqlite_table)
    result = run.checks.value.check(spec, published.rows)
    result.raise_if_failed()
    log.info(
        "%s: %d checks passed in %.1fs (%s)",
        spec.sqlite_table,
        len(result.outcomes),
        result.seconds,
        _check_kinds(result.outcomes),
    )
    return result.seconds


def _check_kinds(outcomes) -> str:
    """`row_count, value_between x3, utc_instant`: the kinds of the checks that ran."""
    kinds = collections.Counter(
        re.sub(r"^source_(\w+?)_target_.*$", r"\1", outcome.check) for outcome in outcomes
    )
    return ", ".join(kind if n == 1 else f"{kind} x{n}" for kind, n in kinds.items())


@task(name="check across tables", cache_policy=NO_CACHE)
@expected_failures
def check_across_tables(specs: list[catalog_module.TableSpec], run: RunSettings) -> float:
    """The checks that read several of the tables this run published (a player of
    PlayerServerStats is in PlayerStatsLifetimes...), once each table passed its own."""
    conn = connect(run.sqlite_path)
    try:
        checkpoints = Checkpoints(conn)
        published = [spec for spec in specs if _published_by(checkpoints, spec, run)]
    finally:
        conn.close()
    result = reconcile.check_tables(
        run.sqlite_path, [(spec, None) for spec in published], across_only=True, as_of=run.as_of
    )
    result.raise_if_failed()
    logger().info(
        "%d checks across %s passed in %.1fs",
        len(result.outcomes),
        ", ".join(spec.sqlite_table for spec in published),
        result.seconds,
    )
    return result.seconds


def _published_by(checkpoints: Checkpoints, spec: catalog_module.TableSpec, run) -> bool:
    point = checkpoints.get(spec.sqlite_table)
    return (
        point is not None
        and point.state == "published"
        and point.run_id == run.run_id(spec.service)
    )


def retry_suffix(run_count: int) -> str:
    """` (retry 1)` in the task run names of a flow run's second run: the graph of a retried
    run shows both runs' task runs, and they must be told apart."""
    return f" (retry {run_count - 1})" if run_count > 1 else ""


def current_flow_run() -> tuple[str | None, int]:
    """The flow run's id and how many times it has run (2 and more: a retry)."""
    from prefect.runtime import flow_run

    return flow_run.id, int(flow_run.run_count or 1)


# The pipeline's lanes: dbt runs one invocation at a time, and SQLite has one writer per file.
_CLICKHOUSE, _SQLITE = "ClickHouse builds and data tests", "SQLite loads and publishes"


def plan_steps(
    plan: RunPlan, catalog: catalog_module.Catalog, run: RunSettings, retry: int
) -> tuple[Pipeline, dict[str, list[str]]]:
    """The run's steps and, per service, the steps whose ends decide its outcome."""
    loaded = [spec for service_plan in plan.to_load for spec in service_plan.service.tables]
    tables = load_order.arrange(run.manifest, loaded, run.target)
    builds = marts.plan_builds(catalog.manifest, tables)
    steps = Pipeline(name_suffix=retry_suffix(retry + 1))
    seeds = []
    if builds.seeds:
        seeds = [steps.add("build seeds", build_seeds, plan=builds, run=run)]
    # ClickHouse builds the largest mart first (each after what it reads) and tests each mart
    # before it builds the next, so its publish is not held up by the next build; SQLite loads
    # whichever table is built first and publishes a table before it loads the next. The writer
    # starts as early as it can and the small marts build while the large ones load.
    built_step: dict[str, str] = {}  # model -> the step after which it is built whole
    for mart in builds.marts:
        upstream = [built_step[model] for model in mart.upstream]
        build = steps.add(
            f"build {mart.model}",
            build_mart,
            needs=[*seeds, *upstream],
            lane=_CLICKHOUSE,
            mart=mart,
            run=run,
            tables=tuple(spec for spec in tables if spec.model == mart.model),
        )
        if run.parts_of(mart.model) is not None:
            build = steps.add(
                f"build {mart.model} (other parts)",
                build_rest,
                lane=_CLICKHOUSE,
                mart=mart,
                first=Result(build),
                run=run,
            )
        built_step[mart.model] = build
        steps.add(
            f"test {mart.model}",
            test_mart,
            lane=_CLICKHOUSE,
            mart=mart,
            built=Result(build),
            run=run,
        )
    service_steps: dict[str, list[str]] = {p.service.name: [] for p in plan.to_load}
    for spec in tables:
        mart = builds.mart(spec.model)
        tests = [f"test {model}" for model in (*mart.upstream, mart.model)]
        load = steps.add(
            f"load {spec.sqlite_table}",
            load_table,
            needs=[f"build {spec.model}"],
            lane=_SQLITE,
            spec=spec,
            run=run,
        )
        publish = steps.add(
            f"publish {spec.sqlite_table}",
            publish_table,
            needs=tests,
            lane=_SQLITE,
            spec=spec,
            staged=Result(load),
            run=run,
        )
        check = steps.add(
            f"check {spec.sqlite_table}",
            check_table,
            spec=spec,
            published=Result(publish),
            run=run,
        )
        built = list(dict.fromkeys([f"build {spec.model}", built_step[spec.model]]))
        service_steps[spec.service] += [*built, *tests, load, publish, check]
    checks = [name for name in steps.names() if name.startswith("check ")]
    if len(checks) > 1:
        across = steps.add(
            "check across tables", check_across_tables, after=checks, specs=loaded, run=run
        )
        for names in service_steps.values():
            names.append(across)
    return steps, service_steps


@flow(
    name="backfill",
    description="Compute the bfstats marts in ClickHouse with dbt and "
    "backfill them into the API's SQLite database, resumably.",
    task_runner=ThreadPoolTaskRunner(max_workers=8),
)
def backfill(
    services: list[str] = ["all"],  # noqa: B006 - Prefect parameters are copied per run
    as_of: str | None = None,
    batch_size: int = 1000,
    force: bool = False,
    sqlite_path: str | None = None,
    allow_shrink: bool = False,
):
    with heartbeats.sent():
        return _backfill(services, as_of, batch_size, force, sqlite_path, allow_shrink)


def _backfill(services, as_of, batch_size, force, sqlite_path, allow_shrink):
    log = logger()
    try:
        requested_as_of = check_parameters(batch_size, as_of)
        sqlite_file = str(config.sqlite_path(sqlite_path))
        flow_run_id, run_count = current_flow_run()
        catalog = describe_project.with_options(
            task_run_name="describe project" + retry_suffix(run_count)
        )()
        selected = catalog.select(services)
        with RunLock(sqlite_file, flow_run_id):
            conn = connect(sqlite_file)
            try:
                report = run_services(
                    RunLedger(conn),
                    catalog,
                    selected,
                    requested_as_of=requested_as_of,
                    force=force,
                    sqlite_file=sqlite_file,
                    batch_size=batch_size,
                    allow_shrink=allow_shrink,
                    flow_run=(flow_run_id, run_count),
                )
            finally:
                conn.close()
    except BfstatsError as error:  # the run could not start: one line says why
        if not getattr(error, "logged", False):
            log.error("%s", error)
        return Failed(message=str(error), data=error)
    summary.publish(report, log)
    if report.failed:
        # An exception as the state's data: what Prefect expects of a Failed flow run (a deployment
        # run resolves it as the run's result), carrying the services' results for the CLI.
        message = report.failure_message()
        return Failed(message=message, data=BackfillFailed(message, report.as_dicts()))
    return report.as_dicts()


def run_services(
    ledger: RunLedger,
    catalog: catalog_module.Catalog,
    selected: list,
    *,
    requested_as_of: str | None,
    force: bool,
    sqlite_file: str,
    batch_size: int,
    allow_shrink: bool,
    flow_run: tuple[str | None, int],
) -> summary.Report:
    """Plan the run, then run its steps; every service it starts ends recorded: completed,
    failed (with the reason, also when the run fails before loading) or interrupted."""
    log = logger()
    flow_run_id, run_count = flow_run
    plan = plan_run(
        ledger, selected, requested_as_of=requested_as_of, force=force, flow_run_id=flow_run_id
    )
    log.info(
        "Backfill into %s, as_of %s: %s",
        sqlite_file,
        plan.as_of,
        ", ".join(f"{p.service.name} ({p.action})" for p in plan.services),
    )
    if run_count > 1:
        log.info(
            "This is retry %d of the flow run: completed services are skipped, the others "
            "resume from their SQLite checkpoints with as_of %s",
            run_count - 1,
            plan.as_of,
        )
    results = {p.service.name: summary.skipped(p, ledger) for p in plan.skipped}
    loading = [p.service.name for p in plan.to_load]
    # Recorded before dbt runs, so that a run killed even during dbt is resumed with its as_of.
    with transaction(ledger.conn, what="recording the start of the run"):
        for service_plan in plan.to_load:
            ledger.start(service_plan.run_id, service_plan.service.name, plan.as_of, flow_run_id)
    if plan.to_load:
        try:
            target = config.load_target()
            check_clickhouse(target)
            if target.kind == "chdb":
                share_cores_with_the_engine(log)
        except BfstatsError as error:
            summary.record_safely(log, "the failure", ledger.fail, None, loading, str(error))
            raise
        run = RunSettings(
            as_of=plan.as_of,
            sqlite_path=sqlite_file,
            batch_size=batch_size,
            allow_shrink=allow_shrink,
            target=target,
            run_ids={p.service.name: p.run_id for p in plan.to_load},
            parsed=Unwalked(catalog.manifest),
            parts=Unwalked(
                {
                    model: build_parts.PartsBuilt(model)
                    for model in build_parts.models_in_parts(catalog.manifest)
                }
            ),
            reuse_marts=all(p.action == "resume" for p in plan.to_load),
            build_run_id=plan.to_load[0].run_id,
            spans={
                p.service.name: telemetry.LongSpan(
                    "bfstats.service",
                    query_name=f"backfill {p.service.name}",
                    table=",".join(spec.sqlite_table for spec in p.service.tables),
                )
                for p in plan.to_load
            },
        )
        steps, service_steps = plan_steps(plan, catalog, run, retry=run_count - 1)
        recorder = summary.Recorder(ledger, plan, service_steps, log, run.spans)
        try:
            with stopping.requested_on_signals():
                steps.run(on_end=recorder.step_ended, should_stop=stopping.requested)
            stopping.check()  # a stop whose exception the main thread never saw
        except BaseException as error:
            signum = stopping.signal_of(error)
            if signum is not None:
                stopping.request(signum)
                recorder.interrupted(str(RunInterrupted(signum)))
            else:
                reason = f"{type(error).__name__}: {error}"
                summary.record_safely(log, "the failure", ledger.fail, None, loading, reason)
            raise
        finally:
            telemetry.flush()
            dbt_invoke.close_idle_connections()
        results.update(recorder.results)
    ordered = [results[name] for name in catalog.names if name in results]
    return summary.Report(plan.as_of, sqlite_file, ordered)


def share_cores_with_the_engine(log) -> None:
    """The embedded engine's threads yield the CPU to the loads (bfstats.engine_priority)."""
    nice = config.clickhouse_nice()
    if engine_priority.keep_engine_threads_low(nice):
        log.info(
            "Embedded ClickHouse threads run at nice %d (%s), so that the SQLite loads keep "
            "their core while the next marts build",
            nice,
            config.CLICKHOUSE_NICE_ENV,
        )


def check_clickhouse(target: config.Target) -> None:
    """Fail before anything is built when ClickHouse cannot be used (the engine's directory is
    held by another process, the server is unreachable)."""
    from dbt.adapters.chdb.engine import EngineError

    try:
        open_source(target).close()
    except EngineError as error:
        raise ClickHouseError(str(error)) from None
