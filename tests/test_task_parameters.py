"""What the flow hands its tasks is cheap for Prefect to handle: Prefect walks task parameters
(dataclasses, lists, dicts) when a task is submitted and again when it starts, and the dbt
Manifest behind RunSettings must not be walked (0.5 s of CPU per task when it was)."""

from __future__ import annotations

from dataclasses import dataclass, field

from bfstats.config import Target
from bfstats.flow import RunSettings, Unwalked
from prefect.utilities.collections import visit_collection
from prefect.utilities.engine import collect_task_run_inputs_sync


@dataclass
class _Node:
    name: str


@dataclass
class _Manifest:
    nodes: dict = field(default_factory=dict)


def settings(manifest) -> RunSettings:
    return RunSettings(
        as_of="2024-03-13T12:00:00Z",
        sqlite_path="x.db",
        batch_size=1000,
        allow_shrink=False,
        target=Target(name="local", kind="chdb", database="bfstats", path="/tmp/x"),
        run_ids={"player-stats": "run-1"},
        parsed=Unwalked(manifest),
        reuse_marts=False,
        build_run_id="run-1",
        spans={},
    )


def test_prefect_passes_the_manifest_through_without_walking_it():
    manifest = _Manifest({f"model.bfstats.m{i}": _Node(f"m{i}") for i in range(1000)})
    run = settings(manifest)
    visited = []

    def visit(value):
        visited.append(value)
        return value

    # As the task engine resolves a parameter when the task starts.
    resolved = visit_collection(
        run, visit_fn=visit, return_data=True, max_depth=-1, remove_annotations=True
    )
    assert not [v for v in visited if isinstance(v, (_Manifest, _Node))]
    assert resolved.manifest is manifest
    assert resolved.run_id("player-stats") == "run-1"
    # As a task is submitted: nothing to find in it.
    assert collect_task_run_inputs_sync(run) == set()
