"""Run the flow's steps (Prefect tasks) as soon as what they need is done.

A step names the steps whose results it needs (`needs`: they must have completed) and the steps
it merely comes after (`after`: they must have ended, however). Steps run in Prefect's thread
pool, so ClickHouse work of one mart and the SQLite load of another overlap.

A step may also belong to a lane (`lane`): a lane runs one step at a time, and when it frees up
it takes the first step in declaration order whose inputs are ready. Unlike a chain of `after`,
a lane never waits for a step whose inputs are not ready while another one could run: the SQLite
loads take whichever mart is built first.

Prefect would also start a task handed a failed future, only to park it as `NotReady` under a
random name. Here a step whose inputs failed is never submitted: it is recorded as skipped, with
the reason, and its task run does not exist.
"""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from prefect.states import State

COMPLETED, FAILED, SKIPPED = "completed", "failed", "skipped"
# The prefix Prefect gives the state message of a task that raised.
_EXCEPTION_PREFIX = "Task run encountered an exception "
# How often the loop looks at `should_stop` while steps run.
_POLL_SECONDS = 0.25


@dataclass(frozen=True)
class Result:
    """A placeholder in a step's arguments for the result of another step."""

    step: str


@dataclass
class Outcome:
    status: str = ""  # completed, failed, skipped
    value: object = None  # completed: the task's result; failed: the exception, when it raised
    error: str | None = None  # failed: the task's message; skipped: why it did not run
    seconds: float = 0.0
    kind: str | None = None  # failed: a short name of what went wrong, e.g. "schema drift"
    cause: str | None = None  # skipped: the failed step it could not run without


@dataclass
class _Step:
    name: str
    task: object  # a prefect Task
    kwargs: dict
    needs: tuple[str, ...]
    after: tuple[str, ...]
    lane: str | None = None
    outcome: Outcome = field(default_factory=Outcome)
    future: object = None
    submitted_at: float = 0.0


class Pipeline:
    def __init__(self, name_suffix: str = "") -> None:
        self._steps: dict[str, _Step] = {}
        self._suffix = name_suffix  # e.g. " (retry 1)", so a retried run's task runs differ

    def add(
        self,
        name: str,
        task,
        *,
        needs: tuple[str, ...] | list[str] = (),
        after: tuple[str, ...] | list[str] = (),
        lane: str | None = None,
        **kwargs,
    ) -> str:
        """Declare a step: `task(**kwargs)` with `Result(step)` values replaced by results.
        Steps of one `lane` run one at a time, the earliest declared of the ready ones first."""
        if name in self._steps:
            raise ValueError(f"step {name!r} declared twice")
        needs = tuple(needs) + tuple(
            value.step for value in kwargs.values() if isinstance(value, Result)
        )
        for other in (*needs, *after):
            if other not in self._steps:
                raise ValueError(f"step {name!r} needs {other!r}, which is not declared before it")
        self._steps[name] = _Step(
            name, task, kwargs, tuple(dict.fromkeys(needs)), tuple(after), lane
        )
        return name

    def names(self) -> list[str]:
        return list(self._steps)

    def outcome(self, name: str) -> Outcome:
        return self._steps[name].outcome

    def run(
        self,
        on_end: Callable[[str, Outcome], None] | None = None,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> dict[str, Outcome]:
        """Run every step; `on_end(name, outcome)` is called as each one ends, in this thread.
        Once `should_stop()`, no step starts and the run returns without waiting for the steps
        still running (their outcomes stay empty)."""
        waiting = dict(self._steps)
        running: dict[concurrent.futures.Future, _Step] = {}
        busy_lanes: set[str] = set()
        while waiting or running:
            for step in list(waiting.values()):
                ready = self._ready(step)
                if ready is None or (ready and step.lane in busy_lanes):
                    continue
                del waiting[step.name]
                if ready and not should_stop():
                    self._submit(step)
                    running[step.future.wrapped_future] = step
                    if step.lane is not None:
                        busy_lanes.add(step.lane)
                else:
                    if not ready:
                        cause = self._cause(step)
                        step.outcome = Outcome(SKIPPED, error=f"not run: {cause} failed")
                        step.outcome.cause = cause
                    else:
                        step.outcome = Outcome(SKIPPED, error="the run was stopped")
                    if on_end:
                        on_end(step.name, step.outcome)
            if not running:
                continue
            if should_stop():
                break  # the steps still running are abandoned, as after a crash
            done, _ = concurrent.futures.wait(
                list(running), timeout=_POLL_SECONDS, return_when=concurrent.futures.FIRST_COMPLETED
            )
            for wrapped in done:
                step = running.pop(wrapped)
                busy_lanes.discard(step.lane)
                step.outcome = self._outcome(step)
                if on_end:
                    on_end(step.name, step.outcome)
        return {name: step.outcome for name, step in self._steps.items()}

    def _ready(self, step: _Step) -> bool | None:
        """True: submit it; False: skip it (an input failed); None: not yet."""
        ends = [self._steps[name].outcome.status for name in (*step.needs, *step.after)]
        if not all(ends):
            return None
        return all(self._steps[name].outcome.status == COMPLETED for name in step.needs)

    def _cause(self, step: _Step) -> str | None:
        """The failed step at the root of why `step` cannot run."""
        for name in step.needs:
            outcome = self._steps[name].outcome
            if outcome.status == FAILED:
                return name
            if outcome.status == SKIPPED and outcome.cause:
                return outcome.cause
        return None

    def _submit(self, step: _Step) -> None:
        kwargs = {
            key: self._steps[value.step].outcome.value if isinstance(value, Result) else value
            for key, value in step.kwargs.items()
        }
        task = step.task.with_options(task_run_name=step.name + self._suffix)
        step.submitted_at = time.perf_counter()
        step.future = task.submit(**kwargs)

    def _outcome(self, step: _Step) -> Outcome:
        seconds = time.perf_counter() - step.submitted_at
        step.future.wait()  # sets the final state from the task itself, not from the API
        state: State = step.future.state
        if state.is_completed():
            return Outcome(COMPLETED, step.future.result(), seconds=seconds)
        message = state.message or state.name
        if message.startswith(_EXCEPTION_PREFIX):
            message = message[len(_EXCEPTION_PREFIX) :]
        error = step.future.result(raise_on_failure=False)
        kind = getattr(error, "kind", None) or "unexpected error"
        return Outcome(FAILED, error, message, seconds, kind)
