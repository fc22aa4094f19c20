"""A stop request reaches the run even when the exception a signal raises is lost: the handler
records the request first, and the step loop stops waiting for the steps still running."""

from __future__ import annotations

import signal
import threading
import time

import pytest
from bfstats import stopping
from bfstats.pipeline import COMPLETED, Pipeline
from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.settings import PREFECT_API_URL, temporary_settings


@pytest.fixture(autouse=True)
def no_stop_left():
    stopping.reset()
    yield
    stopping.reset()


def test_a_signal_requests_the_stop_before_the_handler_that_was_there():
    seen = []

    def swallow(signum, frame):
        seen.append(signum)

    previous = signal.signal(signal.SIGINT, swallow)
    try:
        with stopping.requested_on_signals():
            # The handler that was there swallows it, as some library code does.
            signal.raise_signal(signal.SIGINT)
            assert seen == [signal.SIGINT]
            assert stopping.requested()
            with pytest.raises(stopping.RunInterrupted) as raised:
                stopping.check()
            assert raised.value.exit_code == 130
        assert signal.getsignal(signal.SIGINT) is swallow  # restored on the way out
    finally:
        signal.signal(signal.SIGINT, previous)


def test_sigint_still_raises_keyboard_interrupt_and_the_handlers_are_restored():
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt), stopping.requested_on_signals():
        signal.raise_signal(signal.SIGINT)
    assert stopping.requested()
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


def test_in_another_thread_it_changes_nothing():
    def body():
        with stopping.requested_on_signals():
            pass

    thread = threading.Thread(target=body)
    thread.start()
    thread.join()
    assert not stopping.requested()


@task(cache_policy=NO_CACHE)
def quick() -> str:
    return "done"


@task(cache_policy=NO_CACHE)
def slow(seconds: float) -> str:
    time.sleep(seconds)  # a dbt build: it does not look at stopping between batches
    return "done"


@pytest.mark.slow
def test_the_step_loop_returns_soon_after_a_stop_without_waiting_for_running_steps(
    prefect_server,
):
    @flow(name="pipeline-stop")
    def run() -> tuple[dict, float]:
        steps = Pipeline()
        steps.add("quick", quick)
        steps.add("slow", slow, seconds=15.0)
        steps.add("after slow", quick, needs=["slow"])
        # The request alone, as when the signal's exception never reached this thread.
        threading.Timer(3.0, stopping.request, args=(signal.SIGINT,)).start()
        started = time.monotonic()
        outcomes = steps.run(should_stop=stopping.requested)
        return outcomes, time.monotonic() - started

    with temporary_settings({PREFECT_API_URL: prefect_server.url}):
        outcomes, seconds = run()
    assert seconds < 10, f"{seconds:.1f}s: the loop waited for the slow step"
    assert outcomes["quick"].status == COMPLETED
    assert outcomes["slow"].status == ""  # abandoned, as after a crash
    assert outcomes["after slow"].status == ""
