"""The `prod` target end to end, through the CLI: `bfstats generate` and `bfstats backfill` with
BFSTATS_TARGET=prod against a ClickHouse HTTP endpoint (the test-only stand-in, or the real server
of `make test-server`). dbt-clickhouse builds the marts over HTTP, clickhouse-connect streams them.

- the eight tables equal a reference run on the embedded engine over the same generated data;
- a run killed (SIGKILL to its process group) mid-load resumes, re-reading only the rest;
- an unreachable server, a refused login and a server-side exception reach the user readably;
- the prod password appears nowhere: output, dbt's logs/ and target/, the SQLite file, Prefect's
  logs, runs and artifacts, what bfstats sent the server outside its auth header.
"""

from __future__ import annotations

import itertools
import json
import re
import secrets
import sqlite3
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from support import (
    SCALE,
    TABLES,
    Backfill,
    bfstats,
    checkpoint,
    flow_run_id,
    free_port,
    isolated_env,
    loading_past,
    query,
    table_difference,
    wait_for,
)

pytestmark = pytest.mark.slow
# Fixed for the module: the data of both engines ends at END_TIME, every run uses AS_OF.
END_TIME = (datetime.now(UTC) - timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
AS_OF = (END_TIME - timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
SEED = "23"
SERVICE = "player-milestones"  # the failure runs build and load only this one
BROKEN_SOURCE = "bfstats_test_broken_raw"


@dataclass
class Outputs:
    """Everything the runs printed, for the secrets check."""

    texts: list[str] = field(default_factory=list)

    def add(self, result):
        self.texts += [result.stdout or "", result.stderr or ""]
        return result


@pytest.fixture(scope="module")
def outputs() -> Outputs:
    return Outputs()


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("server-path")


@pytest.fixture(scope="module")
def earlier_requests(clickhouse_server) -> int:
    """Requests other modules made to the session's stand-in before this one (some send
    credentials as URL parameters on purpose, to test the stand-in): not bfstats'."""
    return len(clickhouse_server.requests())


@pytest.fixture(scope="module")
def envs(work, prefect_server, clickhouse_server, earlier_requests):
    local = {**isolated_env(work / "local"), **prefect_server.env()}
    prod = {**isolated_env(work / "prod"), **prefect_server.env(), **clickhouse_server.env()}
    return local, prod


def generate(env, outputs):
    end = END_TIME.strftime("%Y-%m-%dT%H:%M:%SZ")
    result = outputs.add(
        bfstats(
            "generate", "--scale", SCALE, "--seed", SEED, "--end-time", end, "--replace", env=env
        )
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout.splitlines()


@pytest.fixture(scope="module")
def embedded(work, envs, outputs):
    """The embedded engine's side, in a thread so that it overlaps the server's: the same raw
    data generated, then the reference backfill. Two futures: the generate report, the file."""
    local, _ = envs

    def backfill_reference():
        db = work / "reference.db"
        args = ["backfill", "all", "--as-of", AS_OF, "--batch-size", "1000", "--sqlite", str(db)]
        result = outputs.add(bfstats(*args, env=local))
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        return db

    with ThreadPoolExecutor(max_workers=1) as one_after_the_other:
        report = one_after_the_other.submit(generate, local, outputs)
        reference = one_after_the_other.submit(backfill_reference)
        yield report, reference


@pytest.fixture(scope="module")
def generated(envs, embedded, outputs):
    """The generate reports of the embedded engine and, over HTTP, of the server."""
    _, prod = envs
    over_http = generate(prod, outputs)
    return embedded[0].result(), over_http


@pytest.fixture(scope="module")
def reference(embedded) -> Path:
    return embedded[1].result()


def test_generate_over_http_writes_the_same_data(generated, clickhouse_server):
    local, prod = generated
    server = clickhouse_server
    assert prod[0].startswith(
        f"Generated demo data in ClickHouse http{'s' * server.secure}://"
        f"{server.user}@{server.host}:{server.port} (database bfstats_test)"
    )
    # Same counts, duplicates, players, games and sample range; only the timings differ.
    assert [line for line in local[1:] if "generated in" not in line] == [
        line for line in prod[1:] if "generated in" not in line
    ]


@pytest.fixture(scope="module")
def resumed(work, envs, generated, outputs):
    """`backfill all --as-of` over HTTP, killed in the middle of ServerOnlineCounts, then resumed
    without --as-of. Returns the SQLite file and the rows checkpointed at the kill."""
    _, prod = envs
    db = work / "prod.db"
    run = Backfill(["all", "--as-of", AS_OF, "--batch-size", "10", "--sqlite", str(db)], prod)
    wait_for(loading_past(db, "ServerOnlineCounts", 2000), 300, what="ServerOnlineCounts load")
    run.kill()
    outputs.texts.append("".join(run.lines))
    state, written, expected, _, _ = checkpoint(db, "ServerOnlineCounts")
    assert state == "loading" and 2000 <= written < expected

    result = outputs.add(
        bfstats("backfill", "all", "--batch-size", "1000", "--sqlite", str(db), env=prod)
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return db, written


def test_killed_mid_load_then_resumed_equals_the_embedded_run(resumed, reference):
    db, written = resumed
    state, _, expected, resumed_from, rows_read = checkpoint(db, "ServerOnlineCounts")
    assert state == "published" and resumed_from >= written
    assert rows_read == expected - resumed_from < expected  # only the rest was read again
    runs = query(db, "SELECT status, as_of FROM _bfstats_runs")
    assert set(runs) == {("completed", AS_OF)}
    for table in TABLES:
        count, reference_count, only_here, only_there = table_difference(db, reference, table)
        assert (count, only_here, only_there) == (reference_count, 0, 0), table
        assert count > 0, f"{table} is empty"


@pytest.fixture(scope="module")
def failures(work, envs, clickhouse_server, outputs):
    """One failing `backfill player-milestones` per fault: a wrong password, nothing listening at
    the address, and raw tables the models cannot read (a server-side exception)."""
    _, prod = envs
    admin = clickhouse_server.client()
    admin.command(f"DROP DATABASE IF EXISTS {BROKEN_SOURCE}")
    admin.command(f"CREATE DATABASE {BROKEN_SOURCE}")
    for table in ("player_rounds", "server_online_counts"):
        admin.command(
            f"CREATE TABLE {BROKEN_SOURCE}.{table} (unexpected UInt8) "
            "ENGINE = ReplacingMergeTree ORDER BY unexpected"
        )
    admin.close()
    wrong_password = f"wrong-Pw-{secrets.token_hex(6)}"
    faults = {
        "wrong password": {"BFSTATS_CH_PASSWORD": wrong_password},
        "server down": {"BFSTATS_CH_HOST": "127.0.0.1", "BFSTATS_CH_PORT": str(free_port())},
        "server exception": {"BFSTATS_SOURCE_DATABASE": BROKEN_SOURCE},
    }
    results = {}
    for name, overrides in faults.items():
        db = work / f"failed-{name.replace(' ', '-')}.db"
        args = ["backfill", SERVICE, "--as-of", AS_OF, "--sqlite", str(db)]
        results[name] = outputs.add(bfstats(*args, env={**prod, **overrides}))
    return results, wrong_password


def test_a_run_against_a_prefect_server_sends_its_heartbeats_once(reference, prefect_server):
    """With a configured Prefect API the CLI's flow sends its run's heartbeats itself
    (bfstats.heartbeats) instead of Prefect's engine: the event Prefect sends, at the configured
    frequency (180 s), never both at once."""
    resource = f"prefect.flow-run.{flow_run_id(reference)}"
    beats = wait_for(
        lambda: prefect_events(prefect_server, "prefect.flow-run.heartbeat", resource),
        timeout=30,
        interval=0.5,
        what=f"a heartbeat of {resource} among the server's events",
    )
    times = sorted(datetime.fromisoformat(beat["occurred"]) for beat in beats)
    assert all(b - a > timedelta(seconds=150) for a, b in itertools.pairwise(times)), times
    for beat in beats:
        assert beat["resource"]["prefect.resource.name"]
        roles = {r["prefect.resource.role"]: r["prefect.resource.name"] for r in beat["related"]}
        assert roles == {"flow": "backfill"}


def prefect_events(prefect_server, event: str, resource: str) -> list[dict]:
    body = {"filter": {"event": {"name": [event]}, "resource": {"id": [resource]}}, "limit": 50}
    request = urllib.request.Request(
        f"{prefect_server.url}/events/filter",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())["events"]


def test_a_wrong_password_is_reported_readably(failures, clickhouse_server):
    results, wrong_password = failures
    result = results["wrong password"]
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]
    url = (
        f"http{'s' * clickhouse_server.secure}://{clickhouse_server.host}:{clickhouse_server.port}"
    )
    assert (
        f"ClickHouse at {url} rejected user {clickhouse_server.user}: wrong password or no such "
        "user; check BFSTATS_CH_USER / BFSTATS_CH_PASSWORD"
    ) in result.stderr
    assert wrong_password not in result.stdout + result.stderr


def test_an_unreachable_server_is_reported_readably(failures):
    results, _ = failures
    result = results["server down"]
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]
    assert "is unreachable (connection refused); check BFSTATS_CH_HOST, BFSTATS_CH_PORT and " in (
        result.stderr
    )


def test_a_server_exception_is_reported_with_its_code(failures):
    results, _ = failures
    result = results["server exception"]
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]
    assert f"{SERVICE}:" in result.stderr
    # The server's own exception (UNKNOWN_IDENTIFIER: the raw tables lack the columns)
    assert re.search(r"Code: \d+\. DB::Exception: .*\(UNKNOWN_IDENTIFIER\)", result.stderr)


def test_failures_print_no_traceback_nor_client_internals(failures):
    results, _ = failures
    for name, result in results.items():
        for noise in ("Traceback", "urllib3", "HTTPConnectionPool", "(for url "):
            assert noise not in result.stdout + result.stderr, f"{name}: {noise}"


def test_the_password_is_nowhere(
    work, resumed, reference, failures, clickhouse_server, prefect_server, outputs, earlier_requests
):
    """After the successful (killed, resumed) and the failing backfills of this module."""
    password = clickhouse_server.password
    if len(password) < 8:
        pytest.skip("the server's password is too short to search for")
    _, wrong_password = failures
    wanted = [password, wrong_password]

    for text in outputs.texts:
        assert not any(secret in text for secret in wanted), "printed by bfstats"
    scanned = set()
    for path in sorted(p for p in work.rglob("*") if p.is_file()):
        if "clickhouse" in path.relative_to(work).parts:
            continue  # the embedded engine's data: generated rows only
        data = path.read_bytes()
        scanned.add(path.name)
        for secret in wanted:
            assert secret.encode() not in data, f"in {path.relative_to(work)}"
    assert {"dbt.log", "manifest.json", "run_results.json", "prod.db"} <= scanned
    for db in work.glob("*.db"):
        for text in sqlite_texts(db):
            assert not any(secret in text for secret in wanted), f"in {db.name}"
    prefect = "\n".join(prefect_texts(prefect_server))
    assert "ServerOnlineCounts: published" in prefect and "backfill-summary" in prefect
    assert not any(secret in prefect for secret in wanted), "in Prefect"
    requests = clickhouse_server.requests()[earlier_requests:]
    assert requests or clickhouse_server.real
    for entry in requests:
        assert "password" not in entry["parameters"], "sent as a URL parameter"
        assert "X-ClickHouse-Key" not in entry["headers"]
        sent = (entry.get("sql") or "") + str(entry["parameters"]) + str(entry["headers"])
        assert not any(secret in sent for secret in wanted), "sent to the server in the clear"


def sqlite_texts(db: Path):
    """Every row of every table (the `_bfstats_*` metadata included), as text."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        tables = [row[0] for row in conn.execute("SELECT name FROM sqlite_master")]
        yield "\n".join(row[0] or "" for row in conn.execute("SELECT sql FROM sqlite_master"))
        for table in tables:
            quoted = '"' + table.replace('"', '""') + '"'
            try:
                rows = conn.execute(f"SELECT * FROM {quoted}").fetchall()
            except sqlite3.OperationalError:
                continue  # an index
            yield repr(rows)
    finally:
        conn.close()


def prefect_texts(prefect_server):
    """Flow runs (parameters, states), task runs, logs and artifacts, through Prefect's API."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with (
        temporary_settings({PREFECT_API_URL: prefect_server.url}),
        get_client(sync_client=True) as client,
    ):
        for read in (
            client.read_flow_runs,
            client.read_task_runs,
            client.read_artifacts,
            client.read_logs,
        ):
            offset = 0
            while page := read(limit=200, offset=offset):
                yield "\n".join(item.model_dump_json() for item in page)
                offset += len(page)
