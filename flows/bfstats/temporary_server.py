"""A temporary Prefect server for a CLI run when `PREFECT_API_URL` names none.

Prefect would start one itself, but as a child in the CLI's process group: a terminal's Ctrl-C
reaches it first, and the flow's client then retries "Error logging to API" for minutes before
the process dies. This one is started by bfstats:
- in its own session, so the terminal's signals reach only bfstats, which stops it last, after
  the flow run's final state and logs are sent;
- with the parent-death signal set, so even a SIGKILLed bfstats leaves no server behind;
- as early as possible, in the background: the server boots (several seconds, on the other
  core) while this process imports dbt and parses the project;
- with its output in `logs/prefect-server.log` (the server's shutdown noise stays out of the
  terminal; the file is named when the server fails to start);
- warmed once it answers: its first requests of each kind are slow (database sessions, query
  compilation), and a few made from the waiting thread while this process still parses let the
  flow run start 0.6 s sooner (from "ready" to "Beginning flow run" 0.98-1.08 s without them,
  0.36-0.39 s with them, once 0.85 s; `backfill player-milestones` at scale 1, alternating).
  They read, except the `backfill` flow's own record, which the run creates anyway.
It uses Prefect's own ephemeral-server command and settings, so runs land in the same database
(`$PREFECT_HOME`) as when Prefect starts one.
"""

from __future__ import annotations

import ctypes
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import tomllib
import urllib.request
from pathlib import Path

from bfstats import config
from bfstats.errors import BfstatsError

_PR_SET_PDEATHSIG = 1
STARTUP_TIMEOUT_SECONDS = float(os.environ.get("BFSTATS_PREFECT_STARTUP_TIMEOUT", "120"))


class ServerError(BfstatsError):
    kind = "Prefect server unavailable"


def _die_with_parent() -> None:  # runs in the child between fork and exec
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# The kinds of request a flow run starts with (version check, its flow, reads of runs).
_WARM_UP = [
    ("GET", "/admin/version", None),
    ("POST", "/flows/", {"name": "backfill"}),
    ("POST", "/flow_runs/filter", {"limit": 1}),
    ("POST", "/task_runs/filter", {"limit": 1}),
]

_running: list[TemporaryServer] = []


def running() -> TemporaryServer | None:
    """The temporary server this process started, while it runs."""
    return _running[0] if _running else None


class TemporaryServer:
    def __init__(self) -> None:
        self.port = _free_port()
        self.api_url = f"http://127.0.0.1:{self.port}/api"
        self.log_path = config.resolve(os.environ.get("DBT_LOG_PATH") or "logs") / (
            "prefect-server.log"
        )
        self._process: subprocess.Popen | None = None
        self._ready = threading.Event()
        self._error: str | None = None

    def start(self) -> None:
        """Launch the server (from this thread: the parent-death signal follows the thread that
        started the child) and wait for it in the background."""
        spec = importlib.util.find_spec("prefect")
        app_dir = Path(spec.origin).parent.parent
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("w")
        environment = {
            **os.environ,
            "PREFECT_UI_ENABLED": "0",
            "PREFECT__SERVER_EPHEMERAL": "1",
            "PREFECT__SERVER_FINAL": "1",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        }
        environment.pop("PREFECT_API_URL", None)
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--app-dir",
                str(app_dir),
                "--factory",
                "prefect.server.api.server:create_app",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--log-level",
                "error",
                "--lifespan",
                "on",
            ],
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        log.close()
        _running.append(self)
        threading.Thread(
            target=self._wait_until_healthy, name="prefect-server", daemon=True
        ).start()

    def _wait_until_healthy(self) -> None:
        process = self._process  # stop() may clear the attribute while this thread waits
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if process.poll() is not None:
                self._error = f"it exited with code {process.returncode}"
                break
            try:
                with urllib.request.urlopen(f"{self.api_url}/health", timeout=2) as response:
                    healthy = response.status == 200
            except OSError:
                healthy = False
            if healthy:
                self._ready.set()
                self._warm_up()
                return
            time.sleep(0.1)
        self._error = self._error or f"it did not answer within {STARTUP_TIMEOUT_SECONDS:.0f}s"
        self._ready.set()

    def _warm_up(self) -> None:
        for method, path, body in _WARM_UP:
            request = urllib.request.Request(
                f"{self.api_url}{path}",
                data=None if body is None else json.dumps(body).encode(),
                method=method,
                headers={"Content-Type": "application/json"},
            )
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    response.read()
            except OSError:
                return

    def wait_ready(self) -> str:
        self._ready.wait()
        if self._error:
            raise ServerError(
                f"the temporary Prefect server on 127.0.0.1:{self.port} did not start: "
                f"{self._error}; see {self.log_path}, or start one (`prefect server start`) and "
                "set PREFECT_API_URL"
            )
        return self.api_url

    def stop(self) -> None:
        if self in _running:
            _running.remove(self)
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def configured_api_url() -> str | None:
    """The Prefect API this process is configured for: `PREFECT_API_URL` in the environment, or
    in the active profile of `$PREFECT_HOME/profiles.toml` (what `prefect config set` writes).
    Read directly rather than through Prefect's settings, whose import alone takes seconds."""
    if os.environ.get("PREFECT_API_URL"):
        return os.environ["PREFECT_API_URL"]
    home = Path(os.environ.get("PREFECT_HOME") or Path.home() / ".prefect").expanduser()
    try:
        with (home / "profiles.toml").open("rb") as file:
            profiles = tomllib.load(file)
    except (OSError, tomllib.TOMLDecodeError):
        return None
    active = os.environ.get("PREFECT_PROFILE") or profiles.get("active") or "ephemeral"
    settings = (profiles.get("profiles") or {}).get(active) or {}
    return settings.get("PREFECT_API_URL") or None
