"""Stopping `bfstats serve` on SIGTERM or SIGINT within STOP_SECONDS, whatever the state of the
Prefect server.

Prefect's runner, left to itself, gives a flow run 30 s to end after its SIGTERM, and on the way
out it reads the run and pauses every deployment through the API: against a server that is gone,
each of those calls retries for about a minute. So the first signal here:
- asks the server's health endpoint once (1 s timeout);
- server up: the deployments are paused (their schedules create no runs while nothing serves
  them; the next `bfstats serve` resumes them) while Prefect's own stop runs: no new flow runs,
  the run in progress gets SIGTERM and is marked Cancelled ("Runner is shutting down."); its
  processes are killed if they have not ended FLOW_RUN_GRACE_SECONDS after the signal;
- server unreachable: the run's processes get SIGTERM, then SIGKILL after the same grace, and the
  process exits without calling the API (the run stays Running in Prefect);
- in every case anything still running at STOP_SECONDS is killed and the process exits.
A second signal stops at once. The exit status is 0: the stop was asked for, and service managers
(systemd, Docker) count 0 as a clean stop. A run cut short keeps its SQLite checkpoints: the next
run of the same services resumes it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
from uuid import UUID

import anyio
from prefect.logging import get_logger
from prefect.runner import Runner

STOP_SECONDS = 9.0
FLOW_RUN_GRACE_SECONDS = 4.0
PAUSE_SECONDS = 6.0
HEALTH_TIMEOUT_SECONDS = 1.0

logger = get_logger("bfstats.serve")


class StoppableRunner(Runner):
    """Prefect's runner, with the SIGTERM handler it installs in `start()` routed to a Stopper
    (which pauses the deployments itself, bounded: build it with pause_on_shutdown=False)."""

    stopper: Stopper | None = None

    def handle_sigterm(self, *args) -> None:
        if self.stopper is None:
            super().handle_sigterm(*args)
        else:
            self.stopper.handle(signal.SIGTERM)


class Stopper:
    def __init__(self, runner: StoppableRunner, api_url: str):
        self._runner = runner
        self._api_url = api_url.rstrip("/")
        self._received: str | None = None
        self.deployment_ids: list[UUID] = []  # paused at the stop
        self._pausing: concurrent.futures.Future | None = None
        runner.stopper = self

    def install(self) -> None:
        # Installed before asyncio.run, so asyncio leaves SIGINT to us; the runner's start()
        # installs handle_sigterm for SIGTERM, which comes back here.
        signal.signal(signal.SIGINT, self.handle)
        signal.signal(signal.SIGTERM, self.handle)

    def run(self) -> None:
        """Run the runner until it is stopped, and the pausing of the deployments has ended."""

        async def serve() -> None:
            await self._runner.start()
            if self._pausing is not None:
                await asyncio.wrap_future(self._pausing)

        asyncio.run(serve())

    def handle(self, signum: int, frame=None) -> None:
        name = signal.Signals(signum).name
        if self._received is not None:
            logger.warning("%s again: stopping now", name)
            _signal_each(_descendants(os.getpid()), signal.SIGKILL)
            _exit()
        self._received = name
        if not self._runner.started:
            # Still registering the deployments: no flow run to end, nothing to pause.
            logger.info("%s received before serving: stopped", name)
            raise SystemExit(0)
        logger.info("%s received: stopping (within %.0f s)", name, STOP_SECONDS)
        threading.Thread(target=self._stop, name="bfstats-serve-stop", daemon=True).start()

    def _stop(self) -> None:
        started = time.monotonic()
        grace_end = started + FLOW_RUN_GRACE_SECONDS
        if _answers(f"{self._api_url}/health"):
            self._pausing = self._runner.execute_in_background(self._pause_deployments)
            self._runner.execute_in_background(self._runner.astop)
        else:
            logger.warning(
                "Prefect API at %s does not answer: stopping without it. A flow run in progress "
                "is killed and stays Running in Prefect; its checkpoints are kept.",
                self._api_url,
            )
            _signal_each(_flow_run_processes(), signal.SIGTERM)
            _wait_for_flow_runs(grace_end)
            _signal_each(_descendants(os.getpid()), signal.SIGKILL)
            _exit()
        if not _wait_for_flow_runs(grace_end):
            logger.warning(
                "the flow run did not end within %.0f s of the stop: killing it",
                FLOW_RUN_GRACE_SECONDS,
            )
            _signal_each(_flow_run_processes(), signal.SIGKILL)
        # Prefect's stop goes on in the main thread; the process normally exits before this.
        time.sleep(max(0.0, started + STOP_SECONDS - time.monotonic()))
        logger.warning("the runner did not stop within %.0f s: exiting without it", STOP_SECONDS)
        _signal_each(_descendants(os.getpid()), signal.SIGKILL)
        _exit()

    async def _pause_deployments(self) -> None:
        from prefect.client.orchestration import get_client

        with anyio.move_on_after(PAUSE_SECONDS) as scope:
            async with get_client() as client:
                for deployment_id in self.deployment_ids:
                    await client.pause_deployment(deployment_id)
            logger.info("deployments paused")
        if scope.cancelled_caught:
            logger.warning("pausing the deployments took over %.0f s: left unpaused", PAUSE_SECONDS)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=HEALTH_TIMEOUT_SECONDS):
            return True
    except urllib.error.HTTPError:
        return True  # an answer (e.g. 401 from a server with auth): the server is there
    except (OSError, ValueError):
        return False


def _exit() -> None:
    # os._exit: interpreter shutdown would drain Prefect's log and event queues to the API.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _processes() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, state) of every process, from /proc."""
    found = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as stat_file:
                stat = stat_file.read()
        except OSError:
            continue  # ended meanwhile
        # The command name in parentheses may contain spaces; the fields after it are fixed.
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        found[int(entry.name)] = (int(ppid), state)
    return found


def _descendants(root: int) -> list[int]:
    """Live (non-zombie) processes below `root`."""
    processes = _processes()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in processes.items():
        children.setdefault(ppid, []).append(pid)
    found, pending = [], [root]
    while pending:
        for child in children.get(pending.pop(), []):
            pending.append(child)
            if processes[child][1] != "Z":
                found.append(child)
    return found


def _is_resource_tracker(pid: int) -> bool:
    # multiprocessing's helper ignores SIGTERM and ends by itself when its parent has gone.
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            return b"multiprocessing.resource_tracker" in cmdline.read()
    except OSError:
        return False


def _flow_run_processes() -> list[int]:
    return [pid for pid in _descendants(os.getpid()) if not _is_resource_tracker(pid)]


def _wait_for_flow_runs(deadline: float) -> bool:
    """True when no flow-run process is left before `deadline`."""
    while _flow_run_processes():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
    return True


def _signal_each(pids: list[int], signum: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)
