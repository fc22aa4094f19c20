"""The temporary Prefect server of a CLI run: warmed once it answers, and a run with it sends no
flow-run heartbeats (nothing could act on them; joining Prefect's heartbeat thread held the end
of every run for up to a second). With a configured API the flow sends them itself."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest
from bfstats import cli, temporary_server


def _flow_named(api_url: str, name: str) -> dict | None:
    try:
        with urllib.request.urlopen(f"{api_url}/flows/name/{name}", timeout=5) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return None
        raise


@pytest.mark.slow
def test_the_server_is_warmed_once_it_answers(tmp_path, monkeypatch):
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect-home"))
    monkeypatch.setenv("DBT_LOG_PATH", str(tmp_path / "logs"))
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    server = temporary_server.TemporaryServer()
    server.start()
    try:
        api_url = server.wait_ready()
        # A fresh database: the flow's record can only come from the warm-up's requests.
        deadline = time.monotonic() + 30
        flow = _flow_named(api_url, "backfill")
        while flow is None and time.monotonic() < deadline:
            time.sleep(0.1)
            flow = _flow_named(api_url, "backfill")
        assert flow is not None and flow["name"] == "backfill"
        # Nothing else was created: no flow run shows up in the UI for the warm-up.
        request = urllib.request.Request(
            f"{api_url}/flow_runs/filter",
            data=b"{}",
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            assert json.loads(response.read()) == []
    finally:
        server.stop()
    assert temporary_server.running() is None


def _heartbeat_seconds():
    from prefect.flow_engine import FlowRunEngine

    return FlowRunEngine.heartbeat_seconds.fget(object())


def test_no_heartbeats_with_the_temporary_server_and_the_flows_own_otherwise():
    """With a configured Prefect API the heartbeats are sent at the configured frequency by the
    flow itself (bfstats.heartbeats) instead of Prefect's engine; tests/test_server_path.py
    reads them from a real server."""
    from bfstats import heartbeats

    configured = _heartbeat_seconds()
    assert configured is not None  # Prefect's default: a heartbeat every 180 s
    with cli._heartbeats_unless_watched(server=object()):
        assert _heartbeat_seconds() is None
        assert heartbeats._frequency is None
    assert _heartbeat_seconds() == configured
    with cli._heartbeats_unless_watched(server=None):
        assert _heartbeat_seconds() is None
        assert heartbeats._frequency == configured
    assert (_heartbeat_seconds(), heartbeats._frequency) == (configured, None)
