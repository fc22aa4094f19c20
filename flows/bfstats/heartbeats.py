"""Flow-run heartbeats that stop at once, for `bfstats backfill` against a configured Prefect API.

A running flow run sends a heartbeat event every `PREFECT_FLOWS_HEARTBEAT_FREQUENCY` seconds
(180 by default); a server's automation can mark a run whose heartbeats stopped as crashed.
Prefect's own heartbeat thread sleeps in 1 s steps, and its engine joins that thread when the
flow returns: every run's end waited up to a second for it (0.34 s and 1.04 s measured between
the run's last line and "Finished in state"). So the CLI turns Prefect's heartbeats off around
its flow call (`instead_of_prefects`) and the flow sends the same event, at the same frequency,
from a thread that stops when told (`sent`). Runs of a deployment (a served runner, a UI Retry)
keep Prefect's own; with the temporary server there are none (nothing outlives the process to
act on them: `cli._heartbeats_unless_watched`).
"""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace

_frequency: int | None = None  # seconds; set by the CLI around its flow call


@contextmanager
def instead_of_prefects(*, send_own: bool) -> Iterator[None]:
    """Around the CLI's flow call: Prefect's heartbeats off; the flow's own (`sent`) on at the
    configured frequency when `send_own` (a configured Prefect API), else none (the temporary
    server). Nothing changes when heartbeats are off in the configuration."""
    global _frequency
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    frequency = PREFECT_FLOWS_HEARTBEAT_FREQUENCY.value()
    if frequency is None:
        yield
        return
    _frequency = frequency if send_own else None
    try:
        with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
            yield
    finally:
        _frequency = None


@contextmanager
def sent() -> Iterator[None]:
    """Inside the flow: its run's heartbeats while the body runs, when the CLI turned Prefect's
    off; otherwise nothing (Prefect sends its own, or none)."""
    frequency = _frequency
    event = _heartbeat_event() if frequency is not None else None
    if event is None:
        yield
        return
    stop = threading.Event()
    thread = threading.Thread(
        # Prefect's settings context (the API's URL) lives in context variables.
        target=contextvars.copy_context().run,
        args=(_beat, event, frequency, stop),
        name="bfstats-heartbeats",
        daemon=True,
    )
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=2)


def _beat(event: dict, frequency: int, stop: threading.Event) -> None:
    from prefect.events import emit_event

    while True:
        try:
            emit_event(**event)
        except Exception:  # as Prefect's own: a missed heartbeat is not the run's failure
            logging.getLogger("bfstats").debug("could not send a heartbeat", exc_info=True)
        if stop.wait(frequency):
            return


def _heartbeat_event() -> dict | None:
    """The event Prefect's engine sends (`prefect.flow-run.heartbeat`: the flow run as the
    resource; its flow, deployment and tags as related resources), from the engine's own
    template, so that it stays Prefect's shape."""
    from prefect.context import FlowRunContext
    from prefect.flow_engine import BaseFlowRunEngine

    context = FlowRunContext.get()
    if context is None or context.flow_run is None:
        return None
    # The template reads only the engine's flow run and flow.
    engine = SimpleNamespace(flow_run=context.flow_run, flow=context.flow)
    resource, related = BaseFlowRunEngine._build_heartbeat_event_template(engine)
    return {"event": "prefect.flow-run.heartbeat", "resource": resource, "related": related}
