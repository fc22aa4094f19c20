"""`bfstats serve` against a real `prefect server start`: cron schedules registered with the
deployments (and removed again by a restart without them), and a stop on SIGTERM or SIGINT within
10 s whatever the server's state, exit status 0, no process left behind."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import StateType
from prefect.settings import PREFECT_API_URL, temporary_settings
from support import (
    BIN,
    REPO,
    SERVICES,
    PrefectServer,
    generated_workdir,
    isolated_env,
    query,
    wait_for,
)

pytestmark = pytest.mark.slow
DEPLOYMENTS = ["all", *SERVICES]
STOP_LIMIT_SECONDS = 10


@pytest.fixture(scope="module")
def workdir(prefect_server, tmp_path_factory):
    work = tmp_path_factory.mktemp("serve")
    return work, generated_workdir(work, prefect_server, seed=5)


class Serve:
    """A `bfstats serve` process in its own process group."""

    def __init__(self, env: dict, log: Path, *args: str):
        self.log = log
        self.process = subprocess.Popen(
            [str(BIN / "bfstats"), "serve", *args],
            env=env,
            cwd=REPO,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def output(self) -> str:
        return self.log.read_text()[-4000:]

    def wait_until_serving(self) -> None:
        def serving() -> bool:
            assert self.process.poll() is None, self.output()
            return "Run one:" in self.log.read_text()  # printed once every deployment is registered

        wait_for(serving, 300, interval=0.5, what="bfstats serve to register its deployments")
        time.sleep(2)  # the runner's loop is started right after the message

    def stop(self, signum: int) -> tuple[int, float]:
        """Send `signum` to the serve process alone; its exit status and the seconds it took."""
        started = time.monotonic()
        self.process.send_signal(signum)
        try:
            status = self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
            raise AssertionError(f"bfstats serve still running 60 s after {signum}") from None
        return status, time.monotonic() - started

    def assert_nothing_left(self) -> None:
        # multiprocessing's resource trackers end by themselves once their parent has gone.
        deadline = time.monotonic() + 5
        while (left := _group_members(self.process.pid)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not left, f"left behind by bfstats serve: {left}\n{self.output()}"

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


@contextmanager
def serving(env: dict, log: Path, *args: str):
    serve = Serve(env, log, *args)
    try:
        serve.wait_until_serving()
        yield serve
    finally:
        serve.kill()


def _group_members(pgid: int) -> list[str]:
    """Live processes of process group `pgid`, as "pid command"."""
    members = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry.name}/stat").read_text()
            cmdline = Path(f"/proc/{entry.name}/cmdline").read_bytes()
        except OSError:
            continue
        state, _ppid, group = stat.rsplit(")", 1)[1].split()[:3]
        if int(group) == pgid and state != "Z":
            command = cmdline.replace(b"\0", b" ").decode(errors="replace")
            members.append(f"{entry.name} {command[:120]}")
    return members


def client_for(server):
    return temporary_settings({PREFECT_API_URL: server.url})


def schedules_by_deployment(server) -> dict[str, list[tuple[str, str, bool]]]:
    with client_for(server), get_client(sync_client=True) as client:
        found = {}
        for name in DEPLOYMENTS:
            deployment = client.read_deployment_by_name(f"backfill/{name}")
            found[name] = [
                (s.schedule.cron, s.schedule.timezone, s.active) for s in deployment.schedules
            ]
        return found


def paused_by_deployment(server) -> dict[str, bool]:
    with client_for(server), get_client(sync_client=True) as client:
        return {
            name: client.read_deployment_by_name(f"backfill/{name}").paused for name in DEPLOYMENTS
        }


def start_flow_run(env: dict) -> str:
    """`prefect deployment run backfill/all` with small batches (a run of many seconds)."""
    run = subprocess.run(
        [
            str(BIN / "prefect"),
            "deployment",
            "run",
            "backfill/all",
            "--param",
            "batch_size=10",
            "--param",
            "force=true",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return re.search(r"UUID: ([0-9a-f-]{36})", run.stdout).group(1)


def wait_until_loading(server, flow_run_id: str, db: Path) -> None:
    """Until the flow run is writing rows into SQLite (past dbt: the flow carries on with the
    other services when one of them is interrupted)."""
    with client_for(server), get_client(sync_client=True) as client:

        def running() -> bool:
            return client.read_flow_run(flow_run_id).state.type == StateType.RUNNING

        wait_for(running, 300, interval=0.5, what="the flow run to start")

    def loading() -> bool:
        if not db.exists():
            return False
        rows = query(
            db,
            "SELECT count(*) FROM _bfstats_checkpoints WHERE state = ? AND rows_written > 0",
            ("loading",),
        )
        return bool(rows and rows[0][0])

    wait_for(loading, 300, interval=0.2, what="the flow run to write rows")


def test_schedule_is_registered_and_a_restart_without_it_removes_it(
    workdir, prefect_server, tmp_path
):
    work, env = workdir
    with serving(env, tmp_path / "first.log", "--schedule", "all=0 4 * * *") as serve:
        schedules = schedules_by_deployment(prefect_server)
        assert schedules["all"] == [("0 4 * * *", "UTC", True)]
        assert all(schedules[name] == [] for name in SERVICES), schedules
        assert "backfill/all" in serve.output() and "cron '0 4 * * *' UTC" in serve.output()
        assert serve.stop(signal.SIGTERM)[0] == 0, serve.output()
    # Stopped with the server up: paused, so the schedule creates no runs while nothing serves.
    assert all(paused_by_deployment(prefect_server).values())

    with serving(env, tmp_path / "second.log") as serve:
        assert schedules_by_deployment(prefect_server) == {name: [] for name in DEPLOYMENTS}
        assert not any(paused_by_deployment(prefect_server).values())
        assert serve.stop(signal.SIGTERM)[0] == 0, serve.output()


def test_bad_schedules_are_usage_errors_before_prefect_is_contacted(tmp_path):
    # Nothing listens on this API address: reaching Prefect would fail differently.
    env = isolated_env(tmp_path, PREFECT_API_URL="http://127.0.0.1:9/api")
    for option, message in [
        ("all=61 4 * * *", "Invalid cron string"),
        ("nightly=0 4 * * *", "no deployment 'nightly'"),
    ]:
        run = subprocess.run(
            [str(BIN / "bfstats"), "serve", "--schedule", "player-stats=0 5 * * *"]
            + ["--schedule", option],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert run.returncode == 2, run.stdout[-2000:] + run.stderr[-2000:]
        assert message in run.stderr and "Traceback" not in run.stderr, run.stderr


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_serve_stops_on_a_signal(workdir, tmp_path, signum):
    work, env = workdir
    with serving(env, tmp_path / "serve.log") as serve:
        status, seconds = serve.stop(signum)
        assert status == 0, serve.output()
        assert seconds < STOP_LIMIT_SECONDS, serve.output()
        serve.assert_nothing_left()


def test_serve_stops_during_a_flow_run_which_is_cancelled(workdir, prefect_server, tmp_path):
    work, env = workdir
    with serving(env, tmp_path / "serve.log") as serve:
        flow_run_id = start_flow_run(env)
        wait_until_loading(prefect_server, flow_run_id, work / "bfstats.db")
        assert len(_group_members(serve.process.pid)) > 2  # serve, its tracker, the flow run
        status, seconds = serve.stop(signal.SIGTERM)
        assert status == 0, serve.output()
        assert seconds < STOP_LIMIT_SECONDS, serve.output()
        serve.assert_nothing_left()
    with client_for(prefect_server), get_client(sync_client=True) as client:
        state = client.read_flow_run(flow_run_id).state
    assert state.type == StateType.CANCELLED, state
    assert state.message == "Runner is shutting down."


def test_serve_stops_during_a_flow_run_after_the_server_was_killed(tmp_path_factory):
    server = PrefectServer(tmp_path_factory.mktemp("doomed-prefect-home"))
    server.start()
    try:
        work = tmp_path_factory.mktemp("serve-doomed")
        env = generated_workdir(work, server, seed=6)
        with serving(env, work / "serve.log") as serve:
            flow_run_id = start_flow_run(env)
            wait_until_loading(server, flow_run_id, work / "bfstats.db")
            os.killpg(server.process.pid, signal.SIGKILL)
            server.process.wait()
            time.sleep(2)
            status, seconds = serve.stop(signal.SIGTERM)
            assert status == 0, serve.output()
            assert seconds < STOP_LIMIT_SECONDS, serve.output()
            assert "does not answer" in serve.log.read_text()
            serve.assert_nothing_left()
    finally:
        server.stop()
