"""Prefect deployments of the flow: `backfill/all` and `backfill/<service>` for each service,
served together by one runner (`bfstats serve`) that runs one flow run at a time - the embedded
ClickHouse directory may be opened by one process only, and two backfills into one SQLite file
would fight over it.

Each deployment may carry one cron schedule (UTC), given on the command line. The command line
owns the schedules: every start of `bfstats serve` leaves each deployment with exactly the
schedule it was given, or none. A scheduled run is a refresh: it runs with `force` (every service
again, with the run's own `as_of`), since a run without it skips what completed before. A retry
of a scheduled run still resumes (the planner resumes a retried flow run even when forced)."""

from __future__ import annotations

import gc
from collections.abc import Iterable, Mapping

from bfstats import catalog as catalog_module
from bfstats.errors import UsageError
from bfstats.flow import backfill

# The API this feeds refreshed its tables on UTC clocks; a schedule means the same on any host.
SCHEDULE_TIMEZONE = "UTC"
# What a scheduled run changes in the deployment's parameters: a refresh of the snapshot.
SCHEDULED_RUN = {"force": True}


def parse_schedules(options: Iterable[str], names: Iterable[str]) -> dict[str, str]:
    """`NAME=CRON` options -> {deployment: cron}; a bad name, cron or repeat is a UsageError."""
    from prefect.schedules import Cron

    known = list(names)
    schedules: dict[str, str] = {}
    for option in options:
        name, separator, cron = option.partition("=")
        name, cron = name.strip(), cron.strip()
        if not separator or not name or not cron:
            raise UsageError(
                f'--schedule {option!r}: expected DEPLOYMENT=CRON, e.g. all="0 4 * * *"'
            )
        if name not in known:
            raise UsageError(
                f"--schedule {option!r}: no deployment {name!r}; choose from: {', '.join(known)}"
            )
        if name in schedules:
            raise UsageError(f"--schedule: deployment {name!r} is given twice; give it one cron")
        try:
            Cron(cron, timezone=SCHEDULE_TIMEZONE)
        except ValueError as error:
            raise UsageError(
                f"--schedule {option!r}: {error}; give five fields, "
                'minute hour day-of-month month day-of-week, e.g. "0 4 * * *"'
            ) from None
        schedules[name] = cron
    return schedules


def deployment_names(services: Iterable[str]) -> list[str]:
    return [catalog_module.ALL, *services]


def build_deployments(
    catalog: catalog_module.Catalog, schedules: Mapping[str, str] | None = None
) -> list:
    from prefect.schedules import Cron

    schedules = schedules or {}
    return [
        backfill.to_deployment(
            name=name,
            parameters={"services": [name]},
            concurrency_limit=1,
            description=(
                "Backfill every service"
                if name == catalog_module.ALL
                else f"Backfill service {name} only"
            ),
            tags=["bfstats"],
            # An explicit empty list: re-registering replaces the schedules the server holds.
            schedules=(
                [Cron(schedules[name], timezone=SCHEDULE_TIMEZONE, parameters=SCHEDULED_RUN)]
                if name in schedules
                else []
            ),
        )
        for name in deployment_names(catalog.names)
    ]


def remove_schedules(names: Iterable[str]) -> None:
    """Delete every schedule the server holds for these deployments of the flow.

    Registering a deployment replaces its schedules only when none of them has a slug; one made
    elsewhere with a slug would survive a restart without `--schedule` (or make the update fail),
    so they go first and registration creates exactly the ones asked for."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        for name in names:
            try:
                deployment = client.read_deployment_by_name(f"{backfill.name}/{name}")
            except ObjectNotFound:
                continue
            for schedule in deployment.schedules:
                client.delete_deployment_schedule(deployment.id, schedule.id)


def api_url() -> str:
    """The Prefect API `bfstats serve` registers with; a UsageError when none is configured."""
    from prefect.settings import get_current_settings

    url = get_current_settings().api.url
    if not url:
        raise UsageError(
            "bfstats serve needs a running Prefect server: start one "
            "(prefect server start --host 127.0.0.1 --port 4200) and set "
            "PREFECT_API_URL=http://127.0.0.1:4200/api (see README, Prefect deployments)"
        )
    return url


def serve(schedules: Mapping[str, str], api: str) -> int:
    """Register the deployments with `schedules` and run them until SIGTERM or SIGINT; 0 then
    (see serve_stop)."""
    from bfstats.serve_stop import StoppableRunner, Stopper

    deployments = build_deployments(catalog_module.load(), schedules)
    runner = StoppableRunner(limit=1, pause_on_shutdown=False)
    stopper = Stopper(runner, api)
    stopper.install()
    remove_schedules(deployment.name for deployment in deployments)
    stopper.deployment_ids = [runner.add_deployment(deployment) for deployment in deployments]
    _print_served(deployments, schedules)
    # The parsed dbt project stays for the life of the process: kept out of the collector, the
    # exit takes a second instead of several (the stop has STOP_SECONDS in all).
    gc.freeze()
    stopper.run()
    return 0


def _print_served(deployments: list, schedules: Mapping[str, str]) -> None:
    from prefect.settings import get_current_settings

    names = {d.name: f"{backfill.name}/{d.name}" for d in deployments}
    width = max(map(len, names.values()))
    print("Serving (one flow run at a time):", flush=True)
    for name, full_name in names.items():
        cron = schedules.get(name)
        when = f"cron {cron!r} {SCHEDULE_TIMEZONE}" if cron else "no schedule"
        print(f"  {full_name:<{width}}  {when}")
    ui = get_current_settings().ui_url
    if ui:
        print(f"UI: {ui}")
    print("Run one: prefect deployment run backfill/all. Stop: SIGTERM or Ctrl-C.", flush=True)
