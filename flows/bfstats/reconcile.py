"""After a table is published: does SQLite hold what ClickHouse produced (SPEC section 5)?

Two checks. The row count of each SQLite table must equal the count of its ClickHouse model for
this run. And the dbt-sqlite tests of the `sqlite_checks/` project (unique primary keys, no NULL
in NOT NULL columns, values in range, instants in the API's text shape) must pass on the file.

The tests run in this process with dbt's `dbtRunner`, like the main project's dbt on the chdb
adapter. That works because every dbt invocation starts by resetting dbt's adapter registry and
re-reading its own project, profile and flags: invocations of the two projects can alternate in
one process (chdb, then sqlite, then chdb again; tests/test_reconcile.py checks it). The sqlite
invocation gets its own target and log folders, so it never overwrites the main project's
manifest or partial-parse state.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
from collections.abc import Iterable, Mapping
from contextlib import closing
from pathlib import Path

from bfstats import config
from bfstats.errors import BfstatsError
from bfstats.sqlite_store import quote

SQLITE_CHECKS_DIR = config.PROJECT_DIR / "sqlite_checks"
SOURCE_NAME = "target"  # the source that declares the API's tables in sqlite_checks/models/
_FAILING = {"fail", "error"}


class ReconciliationError(RuntimeError, BfstatsError):
    """The published SQLite tables do not match the run; the message lists every problem."""


def model_name(table: str) -> str:
    """`PlayerStatsLifetimes` -> `player_stats_lifetimes`: the mart a SQLite table comes from."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", table).lower()


def check_row_count(
    conn: sqlite3.Connection, table: str, expected: int, model: str | None = None
) -> None:
    """Raise ReconciliationError unless SQLite table `table` holds exactly `expected` rows."""
    model = model or model_name(table)
    count_sql = f"select count(*) from {quote(table)}"  # noqa: S608 - quoted name
    try:
        (actual,) = conn.execute(count_sql).fetchone()
    except sqlite3.OperationalError as exc:
        raise ReconciliationError(
            f"SQLite table {table} cannot be counted ({exc}) but the ClickHouse model {model} "
            f"produced {expected} rows for this run; re-run its service with --force so the "
            "backfill creates and loads it"
        ) from None
    if actual != expected:
        raise ReconciliationError(
            f"SQLite table {table} has {actual} rows but the ClickHouse model {model} produced "
            f"{expected} for this run; the published table is not this run's: re-run its "
            "service with --force, and check that nothing else writes to the table"
        )


def _dbt_dir(env_name: str, default: str) -> Path:
    """This project's own folder under the main project's dbt target or log folder."""
    return config.resolve(os.environ.get(env_name) or default) / "sqlite_checks"


def _table_of(node) -> str | None:
    for source_name, table in getattr(node, "sources", None) or []:
        if source_name == SOURCE_NAME:
            return table
    return None


def run_sqlite_tests(sqlite_path: str | os.PathLike, tables: list[str]) -> list[str]:
    """Run the dbt-sqlite tests of `tables` on the SQLite file; one message per failing test.

    Returns [] when every test passes. Raises ReconciliationError when the tests cannot run
    (missing file, dbt error) or when a table has no tests, so a typo never passes silently.
    """
    from dbt.cli.main import dbtRunner

    if not tables:
        return []
    sqlite_file = config.sqlite_path(sqlite_path)
    if not sqlite_file.is_file():
        raise ReconciliationError(
            f"SQLite file {sqlite_file} does not exist; nothing to check: run the backfill first "
            "or pass the file the backfill wrote"
        )
    target_path = _dbt_dir("DBT_TARGET_PATH", "target")
    # dbt-sqlite attaches every *.db file of this folder: keep one that holds none.
    attach_dir = target_path / "attach"
    attach_dir.mkdir(parents=True, exist_ok=True)
    dbt_vars = {"sqlite_path": str(sqlite_file), "sqlite_attach_dir": str(attach_dir)}
    argv = [
        "test",
        "--project-dir",
        str(SQLITE_CHECKS_DIR),
        "--profiles-dir",
        str(SQLITE_CHECKS_DIR),
        "--target-path",
        str(target_path),
        "--log-path",
        str(_dbt_dir("DBT_LOG_PATH", "logs")),
        "--select",
        " ".join(f"source:{SOURCE_NAME}.{table}" for table in tables),
        "--vars",
        json.dumps(dbt_vars),
    ]
    if os.environ.get("BFSTATS_DBT_QUIET", "1") == "1":
        argv.append("--quiet")
    outcome = dbtRunner().invoke(argv)
    results = getattr(outcome.result, "results", None)
    if outcome.exception is not None or results is None:
        raise ReconciliationError(
            f"dbt test of {SQLITE_CHECKS_DIR} on {sqlite_file} did not run: "
            f"{outcome.exception or 'no results'}; see {_dbt_dir('DBT_LOG_PATH', 'logs')}/dbt.log"
        )
    return _failure_messages(results, tables)


def _failure_messages(results: Iterable, tables: list[str]) -> list[str]:
    messages, tested = [], set()
    for item in results:
        table = _table_of(item.node) or "?"
        tested.add(table)
        status = str(item.status)
        if status not in _FAILING:
            continue
        if status == "fail":
            detail = f"failed with {item.failures} failing row(s)"
        else:
            detail = f"could not run: {item.message}"
        messages.append(f"SQLite table {table}: dbt test {item.node.name} {detail}")
    for table in tables:
        if table not in tested:
            messages.append(
                f"SQLite table {table} has no dbt-sqlite tests; declare it as a table of source "
                f"{SOURCE_NAME!r} in {SQLITE_CHECKS_DIR}/models/target.yml"
            )
    return messages


def reconcile(sqlite_path: str | os.PathLike, expected_rows: Mapping[str, int]) -> None:
    """Check the row counts (table -> the model's count for this run), then the dbt-sqlite
    tests of those tables; raise ReconciliationError listing every problem found."""
    sqlite_file = config.sqlite_path(sqlite_path)
    problems = []
    if sqlite_file.is_file():
        with closing(sqlite3.connect(f"{sqlite_file.as_uri()}?mode=ro", uri=True)) as conn:
            for table, expected in expected_rows.items():
                try:
                    check_row_count(conn, table, expected)
                except ReconciliationError as exc:
                    problems.append(str(exc))
    problems += run_sqlite_tests(sqlite_file, list(expected_rows))
    if problems:
        raise ReconciliationError(
            f"reconciliation of {sqlite_file} failed:\n- "
            + "\n- ".join(problems)
            + f"\nre-run one test from the repo root: BFSTATS_SQLITE_PATH={sqlite_file} "
            ".venv/bin/dbt test --project-dir sqlite_checks --profiles-dir sqlite_checks "
            "--select <test name>"
        )
