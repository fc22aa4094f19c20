"""Prefect's own log lines about a failed task or flow run, made to say it once.

A task of this flow that fails as expected (a BfstatsError: drift, a failed dbt test, a refused
shrink, ...) logs its actionable message once at ERROR and ends Failed with that message. Prefect
would then add two ERROR records of its own: "Task run failed with state: Failed(...)" with an
empty traceback (`NoneType: None`), and "Finished in state Failed(...)". The first is dropped;
the second stays, at INFO, without the state's message: the ERROR record just before it holds
that. The flow run's "Finished in state Failed(...)" likewise drops its message, which repeats
the outcome line and every failure logged before it (the flow run's state keeps the message).
A flow run ending Failed from a deployment adds "Engine execution exited with unexpected
exception" with a traceback of Prefect's engine resolving the BfstatsError the state carries:
dropped, the state message and the lines before it say it all. An unexpected exception keeps
Prefect's one ERROR record with its traceback ("Task run failed with exception: ..."). Each task
run's "Finished in state Completed()" (a third of a run's log) is left to the UI's task states.
"""

from __future__ import annotations

import logging

_RETURNED_FAILURE = "Task run failed with state:"
_FINISHED = "Finished in state "
_FINISHED_FAILED = "Finished in state Failed("
_COMPLETED = "Finished in state Completed()"
_ENGINE_EXIT = "Engine execution exited with unexpected exception"


class _SayItOnce(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not isinstance(record.msg, str):
            return True
        if record.msg == _COMPLETED and record.name == "prefect.task_runs":
            return False
        if record.msg.startswith(_FINISHED_FAILED):
            record.msg, record.args = "Finished in state Failed", ()
        if record.levelno < logging.ERROR:
            return True
        if record.msg.startswith(_RETURNED_FAILURE):
            return False
        if record.msg.startswith(_ENGINE_EXIT):
            from bfstats.errors import BfstatsError

            error = record.exc_info[1] if record.exc_info else None
            return not isinstance(error, BfstatsError)
        if record.msg.startswith(_FINISHED):
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


_FILTER = _SayItOnce()


def install() -> None:
    """Idempotent; applies to every handler of Prefect's task-run and flow-run loggers (console
    and API)."""
    for name in ("prefect.task_runs", "prefect.flow_runs"):
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
