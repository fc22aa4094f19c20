"""The step loop's lanes (flows/bfstats/pipeline.py), on real Prefect tasks: a lane runs one step
at a time, takes whichever of its steps is ready first (not the first declared when that one
still waits for its inputs), and a failed or skipped step does not hold it."""

from __future__ import annotations

import threading
import time

import pytest
from bfstats.pipeline import COMPLETED, FAILED, SKIPPED, Pipeline
from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.settings import PREFECT_API_URL, temporary_settings

pytestmark = pytest.mark.slow  # a Prefect server and flow runs

_spans: list[tuple[str, float, float]] = []
_lock = threading.Lock()


@task(cache_policy=NO_CACHE)
def work(label: str, seconds: float) -> str:
    started = time.monotonic()
    time.sleep(seconds)
    with _lock:
        _spans.append((label, started, time.monotonic()))
    return label


@task(cache_policy=NO_CACHE)
def broken(label: str) -> str:
    raise RuntimeError(f"{label} broke")


def _run(prefect_server, declare) -> tuple[dict, dict[str, tuple[float, float]]]:
    @flow(name="pipeline-lanes")
    def body() -> dict:
        steps = Pipeline()
        declare(steps)
        return steps.run()

    _spans.clear()
    with temporary_settings({PREFECT_API_URL: prefect_server.url}):
        outcomes = body()
    return outcomes, {name: (start, end) for name, start, end in _spans}


def _one_at_a_time(spans: dict[str, tuple[float, float]], names: list[str]) -> None:
    ordered = sorted((spans[name] for name in names), key=lambda span: span[0])
    for (_, end), (start, _) in zip(ordered, ordered[1:], strict=False):
        assert start >= end, f"two steps of one lane overlapped: {spans}"


def test_a_lane_takes_whichever_step_is_ready_first_and_runs_one_at_a_time(prefect_server):
    def declare(steps: Pipeline) -> None:
        steps.add("build big", work, label="build big", seconds=2.0)
        steps.add("build small", work, label="build small", seconds=0.1)
        # Declared first, but its input is built last: the lane must not wait for it.
        steps.add(
            "load big", work, needs=["build big"], lane="loads", label="load big", seconds=0.5
        )
        steps.add(
            "load small", work, needs=["build small"], lane="loads", label="load small", seconds=1.0
        )

    outcomes, spans = _run(prefect_server, declare)
    assert all(outcome.status == COMPLETED for outcome in outcomes.values()), outcomes
    assert spans["load small"][0] < spans["build big"][1], "the lane waited for the first declared"
    assert spans["load big"][0] >= spans["build big"][1]
    _one_at_a_time(spans, ["load big", "load small"])


def test_ready_steps_of_a_lane_run_in_declaration_order(prefect_server):
    names = ["first", "second", "third", "fourth"]

    def declare(steps: Pipeline) -> None:
        for name in names:
            steps.add(name, work, lane="builds", label=name, seconds=0.3)
        steps.add("beside", work, label="beside", seconds=0.6)  # no lane: runs alongside

    outcomes, spans = _run(prefect_server, declare)
    assert all(outcome.status == COMPLETED for outcome in outcomes.values()), outcomes
    assert sorted(names, key=lambda name: spans[name][0]) == names
    _one_at_a_time(spans, names)
    assert spans["beside"][0] < spans["first"][1], "a step outside the lane waited for it"


def test_a_failed_or_skipped_step_frees_its_lane(prefect_server):
    def declare(steps: Pipeline) -> None:
        steps.add("build a", broken, label="build a")
        steps.add("load a", work, needs=["build a"], lane="loads", label="load a", seconds=0.1)
        steps.add("build b", work, label="build b", seconds=0.2)
        steps.add("load b", broken, needs=["build b"], lane="loads", label="load b")
        steps.add("load c", work, needs=["build b"], lane="loads", label="load c", seconds=0.1)

    outcomes, spans = _run(prefect_server, declare)
    assert outcomes["load a"].status == SKIPPED
    assert outcomes["load a"].cause == "build a"
    assert outcomes["load b"].status == FAILED
    assert outcomes["load c"].status == COMPLETED
    assert "load a" not in spans
