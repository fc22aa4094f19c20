"""Test set-up shared by every test module.

chdb hosts one embedded engine per process, bound to one data directory, so the whole pytest
process uses one scratch directory (set before anything opens the engine). Tests that need an
engine of their own run `bfstats` in a subprocess with other environment variables.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

import pytest

SCRATCH = Path(tempfile.mkdtemp(prefix="bfstats-tests-"))


def pytest_configure(config):
    os.environ["BFSTATS_CHDB_PATH"] = str(SCRATCH / "clickhouse")
    os.environ["BFSTATS_SQLITE_PATH"] = str(SCRATCH / "bfstats.db")
    os.environ["DBT_TARGET_PATH"] = str(SCRATCH / "target")
    os.environ["DBT_LOG_PATH"] = str(SCRATCH / "logs")
    os.environ["BFSTATS_TARGET"] = "local"
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")


def pytest_unconfigure(config):
    shutil.rmtree(SCRATCH, ignore_errors=True)


@pytest.fixture(scope="session")
def scratch_dir() -> Path:
    return SCRATCH


@pytest.fixture
def clickhouse():
    """A session on this process's embedded engine (closed after the test)."""
    from dbt.adapters.chdb import engine

    session = engine.connect(os.environ["BFSTATS_CHDB_PATH"])
    try:
        yield session
    finally:
        session.close()


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory):
    """One real Prefect server for the whole session (started on first use)."""
    from support import PrefectServer

    server = PrefectServer(tmp_path_factory.mktemp("prefect-home"))
    server.start()
    try:
        yield server
    finally:
        # Ship the in-process flows' last log records before their server goes away.
        from prefect.logging.handlers import APILogWorker

        APILogWorker.drain_all(timeout=10)
        server.stop()


@pytest.fixture(scope="session")
def real_catalog():
    """The catalog as the backfill builds it, from the marts' YAML in models/ (a dbt parse)."""
    from bfstats import catalog, dbt_invoke

    return catalog.from_manifest(dbt_invoke.parse_manifest())


def real_server_requested() -> bool:
    """`make test-server`: the server-path tests run against the real ClickHouse server given by
    BFSTATS_CH_HOST/PORT/USER/PASSWORD/SECURE instead of the stand-in."""
    return os.environ.get("BFSTATS_TEST_SERVER") == "1"


@pytest.fixture(scope="session")
def clickhouse_server(tmp_path_factory):
    """A ClickHouse HTTP endpoint for the `prod` target; `.env()` points `bfstats` at it.

    By default the test-only stand-in (tests/clickhouse_http: the embedded engine behind
    ClickHouse's HTTP protocol) on 127.0.0.1, with user `bfstats` and a distinctive password the
    secrets tests look for; with BFSTATS_TEST_SERVER=1 the real server of BFSTATS_CH_*."""
    import secrets

    from clickhouse_http import ClickHouseStandIn, RealServer

    if real_server_requested():
        if not os.environ.get("BFSTATS_CH_HOST"):
            pytest.fail("BFSTATS_TEST_SERVER=1 needs BFSTATS_CH_HOST (and _PORT, _USER, ...)")
        yield RealServer(os.environ)
        return
    password = f"s3cr3t-Pw-{secrets.token_hex(8)}"
    server = ClickHouseStandIn(tmp_path_factory.mktemp("clickhouse-http"), "bfstats", password)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def bfstats_log(caplog):
    """`caplog` with what the project logs outside a run: `prefect.bfstats`, which Prefect's
    logging configuration keeps from the root logger that `caplog` listens on. Prefect sets
    that configuration up on first use, replacing the loggers' handlers: first use it here.
    Records go to the handler of the test's current phase (pytest gives each phase its own)."""
    from bfstats.progress import logger

    logger()

    class ToCaplog(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            caplog.handler.handle(record)

    log, handler = logging.getLogger("prefect.bfstats"), ToCaplog()
    log.addHandler(handler)
    try:
        yield caplog
    finally:
        log.removeHandler(handler)
