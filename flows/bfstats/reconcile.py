"""After a table is published: does SQLite hold what ClickHouse produced (SPEC section 5)?

Two kinds of check. The row count of each SQLite table must equal the count of its ClickHouse
model for this run. And the dbt-sqlite checks generated from the catalog (bfstats.sqlite_checks:
ranges, accepted values, instant formats, cross-table facts, and not-null or uniqueness only
where the table's own schema does not already guarantee them) must pass on the file.

`check_table` / `check_tables` are the entry points: they return a CheckResult listing every
check run, its outcome and seconds; `CheckResult.raise_if_failed()` raises ReconciliationError
with one actionable line per failure. The dbt checks run in this process with dbtRunner
(bfstats.check_project), serialised with every other dbt invocation by dbt_invoke.DBT_LOCK.
"""

from __future__ import annotations

import os
import re
import sqlite3
import time
from collections.abc import Mapping, Sequence
from contextlib import closing, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from bfstats import catalog as catalog_module
from bfstats import check_project, config, sqlite_checks
from bfstats.catalog import Catalog, CatalogError, TableSpec
from bfstats.errors import BfstatsError
from bfstats.sqlite_store import quote

SQLITE_CHECKS_DIR = check_project.REPO_DIR
ROW_COUNT = "row_count"
_FAILING = {"fail", "error"}


class ReconciliationError(BfstatsError, RuntimeError):
    """The published SQLite tables do not match the run; the message lists every problem."""

    kind = "checks failed"


@dataclass(frozen=True)
class CheckOutcome:
    table: str
    check: str  # "row_count" or the dbt test's name
    status: str  # pass, fail, error
    seconds: float
    message: str | None = None  # for a failure: what failed and what to do


@dataclass
class CheckResult:
    sqlite_file: Path
    tables: list[str]
    outcomes: list[CheckOutcome] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def problems(self) -> list[str]:
        return [
            o.message or f"{o.table}: {o.check} {o.status}"
            for o in self.outcomes
            if o.status in _FAILING
        ]

    def raise_if_failed(self) -> None:
        if self.problems:
            error = ReconciliationError(
                f"reconciliation of {self.sqlite_file} failed:\n- "
                + "\n- ".join(self.problems)
                + "\nThe published table does not hold what its mart produced for this run: "
                "re-run its service with --force, and check that nothing else writes to it. "
                "See the failing rows by re-running a check from the repo root: "
                + check_project.by_hand_command(self.sqlite_file, "<check name>")
            )
            error.tables = sorted({o.table for o in self.outcomes if o.status in _FAILING})
            raise error


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


def _file_of(conn: sqlite3.Connection) -> Path:
    for _, name, path in conn.execute("pragma database_list"):
        if name == "main" and path:
            return Path(path)
    raise ReconciliationError("the SQLite connection has no file (in-memory?); nothing to check")


def _open(conn_or_path):
    """(the SQLite file, a context giving a connection): the caller's, or a read-only one."""
    if isinstance(conn_or_path, sqlite3.Connection):
        return _file_of(conn_or_path), nullcontext(conn_or_path)
    sqlite_file = config.sqlite_path(conn_or_path)
    if not sqlite_file.is_file():
        raise ReconciliationError(
            f"SQLite file {sqlite_file} does not exist; nothing to check: run the backfill first "
            "or pass the file the backfill wrote"
        )
    return sqlite_file, closing(sqlite3.connect(f"{sqlite_file.as_uri()}?mode=ro", uri=True))


def check_table(
    conn_or_path,
    spec: TableSpec,
    rows_expected: int,
    *,
    catalog: Catalog | None = None,
    as_of: str | None = None,
) -> CheckResult:
    """Row count and the generated dbt-sqlite checks of one published table. Checks that read
    another table too (relationships, cross-table singular tests) need check_tables."""
    return check_tables(conn_or_path, [(spec, rows_expected)], catalog=catalog, as_of=as_of)


def check_tables(
    conn_or_path,
    tables: Sequence[tuple[TableSpec, int | None]],
    *,
    catalog: Catalog | None = None,
    across_only: bool = False,
    own_only: bool = False,
    as_of: str | None = None,
) -> CheckResult:
    """Row counts (skipped where the expected count is None) and the generated dbt-sqlite
    checks of several published tables in one dbt invocation, cross-table checks among them
    included unless `own_only`. `conn_or_path`: an open connection to the file, or its path.
    `as_of`: the run that published them (their as_of columns must hold it), None for a file
    checked alone."""
    started = time.perf_counter()
    sqlite_file, connection = _open(conn_or_path)
    result = CheckResult(sqlite_file, [spec.sqlite_table for spec, _ in tables])
    with connection as conn:
        for spec, expected in tables:
            if expected is not None:
                result.outcomes.append(_row_count(conn, spec, expected))
        plans = sqlite_checks.plan(catalog or catalog_module.load(), conn, as_of=as_of)
    yaml_text = sqlite_checks.render_yaml(plans)
    try:
        tests = check_project.run_tests(
            sqlite_file, yaml_text, result.tables, across_only=across_only, own_only=own_only
        )
    except check_project.CheckProjectError as error:
        raise ReconciliationError(str(error)) from None
    for test in tests:
        result.outcomes.append(
            CheckOutcome(test.table, test.name, test.status, test.seconds, _message(test))
        )
    result.seconds = time.perf_counter() - started
    return result


def _row_count(conn, spec: TableSpec, expected: int) -> CheckOutcome:
    started = time.perf_counter()
    try:
        check_row_count(conn, spec.sqlite_table, expected, model=spec.model)
    except ReconciliationError as error:
        return CheckOutcome(spec.sqlite_table, ROW_COUNT, "fail", _since(started), str(error))
    return CheckOutcome(spec.sqlite_table, ROW_COUNT, "pass", _since(started))


def _since(started: float) -> float:
    return round(time.perf_counter() - started, 3)


def _message(test: check_project.TestOutcome) -> str | None:
    if test.status not in _FAILING:
        return None
    if test.status == "fail":
        detail = f"failed with {test.failures} failing row(s)"
    else:
        detail = f"could not run: {test.message}"
    return f"SQLite table {test.table}: dbt test {test.name} {detail}"


def run_sqlite_tests(
    sqlite_path: str | os.PathLike, tables: list[str], *, catalog: Catalog | None = None
) -> list[str]:
    """The generated dbt-sqlite checks of `tables` (SQLite names) on the file; one message per
    failing check, [] when all pass. Raises ReconciliationError when they cannot run."""
    if not tables:
        return []
    catalog = catalog or catalog_module.load()
    specs, problems = [], []
    for table in tables:
        try:
            specs.append((catalog.table(table), None))
        except CatalogError:
            problems.append(
                f"SQLite table {table} is not loaded by any mart of the catalog, so it has no "
                "checks; name a table of the catalog (meta.sqlite_table of a mart)"
            )
    if specs:
        problems += check_tables(sqlite_path, specs, catalog=catalog).problems
    return problems


def reconcile(
    sqlite_path: str | os.PathLike,
    expected_rows: Mapping[str, int],
    *,
    catalog: Catalog | None = None,
) -> CheckResult:
    """Row counts (table -> the model's count for this run) and the generated checks of those
    tables together; raise ReconciliationError listing every problem found."""
    catalog = catalog or catalog_module.load()
    try:
        specs = [(catalog.table(table), rows) for table, rows in expected_rows.items()]
    except CatalogError as error:
        raise ReconciliationError(str(error)) from None
    result = check_tables(sqlite_path, specs, catalog=catalog)
    result.raise_if_failed()
    return result
