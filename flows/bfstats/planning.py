"""Deciding what a backfill run does for each service before anything runs.

- A service whose latest run completed is skipped, unless `force` or an explicit `as_of` other
  than the one it completed with (a new `as_of` is a new snapshot: it runs).
- A service whose latest run did not complete (interrupted or failed) is resumed: same run id,
  same `as_of`, its tables continue from their checkpoints. It is started afresh instead when the
  caller asks for another `as_of`, or forces (except when the very same Prefect flow run is being
  retried, which resumes: a retry from the UI keeps its parameters, `force` included).
- Everything else starts afresh with a new run id.
The run's `as_of` is the one asked for, else the one of the runs being resumed, else now.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from bfstats import as_of as as_of_text
from bfstats.catalog import Service
from bfstats.sqlite_store import RunLedger


@dataclass(frozen=True)
class ServicePlan:
    service: Service
    action: str  # "fresh", "resume" or "skip"
    run_id: str
    reason: str


@dataclass(frozen=True)
class RunPlan:
    as_of: str
    services: list[ServicePlan]

    @property
    def to_load(self) -> list[ServicePlan]:
        return [plan for plan in self.services if plan.action != "skip"]

    @property
    def skipped(self) -> list[ServicePlan]:
        return [plan for plan in self.services if plan.action == "skip"]


def plan_run(
    ledger: RunLedger,
    services: list[Service],
    *,
    requested_as_of: str | None,
    force: bool,
    flow_run_id: str | None,
) -> RunPlan:
    latest = {service.name: ledger.latest(service.name) for service in services}

    def resumable(name: str) -> bool:
        record = latest[name]
        if record is None or record.status == "completed":
            return False
        if requested_as_of is not None and record.as_of != requested_as_of:
            return False
        return not force or (flow_run_id is not None and record.flow_run_id == flow_run_id)

    resumable_as_ofs = sorted(
        (latest[s.name].started_at, latest[s.name].as_of) for s in services if resumable(s.name)
    )
    run_as_of = requested_as_of or (resumable_as_ofs[-1][1] if resumable_as_ofs else None)
    run_as_of = run_as_of or as_of_text.now()
    fresh_run_id = uuid.uuid4().hex[:16]

    plans = []
    for service in services:
        record = latest[service.name]
        new_snapshot = (
            requested_as_of is not None and record is not None and (record.as_of != requested_as_of)
        )
        if record is not None and record.status == "completed" and not force and not new_snapshot:
            plans.append(
                ServicePlan(
                    service,
                    "skip",
                    record.run_id,
                    f"completed at {record.finished_at} (as_of {record.as_of}); use force",
                )
            )
        elif resumable(service.name) and record.as_of == run_as_of:
            plans.append(
                ServicePlan(
                    service,
                    "resume",
                    record.run_id,
                    f"resuming run {record.run_id} ({record.status}) with as_of {record.as_of}",
                )
            )
        else:
            plans.append(ServicePlan(service, "fresh", fresh_run_id, "new run"))
    return RunPlan(run_as_of, plans)
