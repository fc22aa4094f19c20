"""Reconciliation of the published SQLite tables: row counts and the generated dbt-sqlite checks
(tests/test_sqlite_checks.py covers what is generated)."""

from __future__ import annotations

import json
import os
import sqlite3
from contextlib import closing
from pathlib import Path

import api_schema
import pytest
from bfstats import dbt_invoke
from bfstats.reconcile import (
    ReconciliationError,
    check_row_count,
    reconcile,
    run_sqlite_tests,
)

AS_OF = "2024-06-05T12:00:00Z"
FIRST, LAST = "2024-06-01T08:00:00Z", "2024-06-04T21:30:00Z"
# A player name that needs quoting anywhere it is spliced into SQL.
PLAYER = 'O\'Neil "ace" \U0001f3ae'

VALID_ROWS = {
    "ServerOnlineCounts": [
        ("srv-1", "2024-06-05T10:00:00Z", "bf1942", 12.5, 20, 60),
        ("srv-1", "2024-06-05T11:00:00Z", "fh2", 0.0, 0, 1),
    ],
    "PlayerStatsLifetimes": [
        (PLAYER, 3, 10010, 0, -15, 90.0, -5.0, 10010.0, 111.222, FIRST, LAST, AS_OF),
        ("bob", 1, 0, 2, 10, 0.0, 10.0, 0.0, 0.0, FIRST, FIRST, AS_OF),
    ],
    "PlayerServerStats": [
        (PLAYER, "srv-1", 3, 40, 0, -15, 90.0, 30, "r-1", "wake", FIRST, AS_OF),
        ("bob", "srv-1", 1, 0, 2, 10, 0.0, 10, "r-2", "wake", FIRST, AS_OF),
    ],
    "PlayerMapStats": [
        (PLAYER, "wake", "srv-1", 3, 40, 0, -15, 90.0, AS_OF),
        (PLAYER, "wake", "", 3, 40, 0, -15, 90.0, AS_OF),
    ],
    "PlayerMilestones": [
        (PLAYER, 5000, LAST, 5003, 3),
        (PLAYER, 10000, LAST, 10010, 3),
    ],
    "PlayerBestScores": [
        (PLAYER, "all_time", 1, 30, 12, 0, "wake", "srv-1", "2024-06-01T08:30:00Z", "r-1"),
        (PLAYER, "last_30_days", 1, 30, 12, 0, "wake", "srv-1", "2024-06-01T08:30:00Z", "r-1"),
        (PLAYER, "this_week", 3, 1, 0, 1, "wake", "srv-1", LAST, "r-3"),
    ],
    "ServerHourlyPatterns": [
        ("srv-1", 0, 0, 1.5, 0.0, 0.5, 1.0, 2.0, 3.0, 4.0, 8, AS_OF),
        ("srv-1", 6, 23, 1.5, 0.0, 0.5, 1.0, 2.0, 3.0, 4.0, 8, AS_OF),
    ],
    "HourlyPlayerPredictions": [
        ("bf1942", 0, 0, 17.25, 8, AS_OF),
        ("fh2", 6, 23, 0.0, 1, AS_OF),
    ],
}
TABLES = list(VALID_ROWS)


def insert(conn: sqlite3.Connection, table: str, rows: list[tuple]) -> None:
    marks = ", ".join("?" * len(rows[0]))
    conn.executemany(f'insert into "{table}" values ({marks})', rows)


def relax(conn: sqlite3.Connection, table: str) -> None:
    """Recreate `table` without its primary key and NOT NULL constraints, keeping its rows,
    so a test can store what the EF Core shape would reject."""
    conn.executescript(
        f'alter table "{table}" rename to "{table}_strict";'
        f'create table "{table}" as select * from "{table}_strict";'
        f'drop table "{table}_strict";'
    )


def counts(**overrides: int) -> dict[str, int]:
    return {table: len(rows) for table, rows in VALID_ROWS.items()} | overrides


@pytest.fixture
def api_db(tmp_path):
    """The API's database (its own DDL), the 8 tables each holding a few valid rows."""
    path = tmp_path / "api.db"
    with closing(sqlite3.connect(path)) as conn:
        conn.executescript(api_schema.sql())
        for table, rows in VALID_ROWS.items():
            insert(conn, table, rows)
        conn.commit()
    return path


def test_valid_tables_pass_every_check(api_db):
    assert run_sqlite_tests(api_db, TABLES) == []
    reconcile(api_db, counts())


def test_row_count_mismatch_names_table_and_model(api_db):
    with closing(sqlite3.connect(api_db)) as conn:
        check_row_count(conn, "PlayerStatsLifetimes", 2)
        with pytest.raises(ReconciliationError) as raised:
            check_row_count(conn, "PlayerStatsLifetimes", 3)
    assert str(raised.value).startswith(
        "SQLite table PlayerStatsLifetimes has 2 rows but the ClickHouse model "
        "player_stats_lifetimes produced 3 for this run;"
    )


def test_missing_table_is_reported(api_db):
    with closing(sqlite3.connect(api_db)) as conn:
        conn.execute('drop table "PlayerMilestones"')
        with pytest.raises(ReconciliationError, match="SQLite table PlayerMilestones cannot be"):
            check_row_count(conn, "PlayerMilestones", 2)


def test_reconcile_reports_counts_and_test_failures_together(api_db):
    with closing(sqlite3.connect(api_db)) as conn:
        conn.execute("""update "HourlyPlayerPredictions" set "HourOfDay" = 24""")
        conn.commit()
    with pytest.raises(ReconciliationError) as raised:
        reconcile(api_db, counts(ServerOnlineCounts=5))
    message = str(raised.value)
    assert "SQLite table ServerOnlineCounts has 2 rows but the ClickHouse model" in message
    assert "SQLite table HourlyPlayerPredictions: dbt test source_value_between" in message
    assert "PlayerBestScores" not in message


BREAKAGES = {
    "duplicate key": (
        "PlayerBestScores",
        """insert into "PlayerBestScores" select * from "PlayerBestScores" where "Rank" = 3""",
        "source_unique_key_target_PlayerBestScores_PlayerName__Period__Rank",
    ),
    "null in not-null column": (
        "PlayerMapStats",
        """update "PlayerMapStats" set "TotalPlayTimeMinutes" = null where "ServerGuid" = ''""",
        "source_not_null_target_PlayerMapStats_TotalPlayTimeMinutes",
    ),
    "day of week 7": (
        "ServerHourlyPatterns",
        """update "ServerHourlyPatterns" set "DayOfWeek" = 7 where "DayOfWeek" = 6""",
        "source_value_between_target_ServerHourlyPatterns_DayOfWeek",
    ),
    "rank 4": (
        "PlayerBestScores",
        """update "PlayerBestScores" set "Rank" = 4 where "Rank" = 3""",
        "source_value_between_target_PlayerBestScores_Rank",
    ),
    "unknown period": (
        "PlayerBestScores",
        """update "PlayerBestScores" set "Period" = 'last_week' where "Period" = 'this_week'""",
        "source_accepted_values_target_PlayerBestScores_Period",
    ),
}


@pytest.mark.parametrize("breakage", list(BREAKAGES))
def test_each_kind_of_failure_is_reported_with_its_table(api_db, breakage):
    table, statement, test_name = BREAKAGES[breakage]
    with closing(sqlite3.connect(api_db)) as conn:
        relax(conn, table)
        conn.execute(statement)
        conn.commit()

    messages = run_sqlite_tests(api_db, [table])

    assert len(messages) == 1, messages
    assert messages[0].startswith(f"SQLite table {table}: dbt test {test_name}")
    assert messages[0].endswith("failed with 1 failing row(s)")


def test_unknown_table_is_not_a_silent_pass(api_db):
    assert run_sqlite_tests(api_db, ["PlayerBestScore"]) == [
        "SQLite table PlayerBestScore is not loaded by any mart of the catalog, so it has no "
        "checks; name a table of the catalog (meta.sqlite_table of a mart)"
    ]


def test_missing_file_is_an_error(tmp_path):
    with pytest.raises(ReconciliationError, match="does not exist"):
        run_sqlite_tests(tmp_path / "absent.db", ["PlayerBestScores"])
    assert not (tmp_path / "absent.db").exists()


def test_chdb_and_sqlite_dbt_invocations_alternate_in_one_process(api_db, clickhouse):
    before = dbt_invoke.run(["debug"])
    assert before.success, before.messages

    assert run_sqlite_tests(api_db, ["ServerOnlineCounts"]) == []

    dbt_invoke.run_operation("create_raw_tables", {"database": "reconcile_check"})
    # The chdb adapter really ran the macro after the sqlite invocation.
    tables = clickhouse.query(
        "select name from system.tables where database = 'reconcile_check' order by name", "CSV"
    )
    assert str(tables).split() == ['"player_rounds"', '"server_online_counts"']
    # Each project kept its own dbt target folder.
    target = Path(os.environ["DBT_TARGET_PATH"])
    assert project_of(target / "manifest.json") == "bfstats"
    assert project_of(target / "sqlite_checks" / "manifest.json") == "bfstats_sqlite_checks"


def project_of(manifest: Path) -> str:
    return json.loads(manifest.read_text())["metadata"]["project_name"]


def test_an_invocation_writes_its_run_results_and_leaves_the_parsed_manifest(api_db, clickhouse):
    """dbt would rewrite manifest.json after every command; the parse wrote it, so the flow's
    invocations leave it as it is and write only their own run_results.json (dbt_invoke)."""
    target = Path(os.environ["DBT_TARGET_PATH"])
    dbt_invoke.parse_manifest()
    assert run_sqlite_tests(api_db, ["ServerOnlineCounts"]) == []  # parses the checks project
    manifests = [target / "manifest.json", target / "sqlite_checks" / "manifest.json"]
    written = [path.stat().st_mtime_ns for path in manifests]
    for results in (target / "run_results.json", target / "sqlite_checks" / "run_results.json"):
        results.unlink(missing_ok=True)

    shown = dbt_invoke.run(["show", "--inline", "select 1 as one"])
    assert shown.success, shown.messages
    assert run_sqlite_tests(api_db, ["ServerOnlineCounts"]) == []

    assert [path.stat().st_mtime_ns for path in manifests] == written
    main = json.loads((target / "run_results.json").read_text())
    assert main["args"]["which"] == "show"
    assert [r["status"] for r in main["results"]] == ["success"]
    checks = json.loads((target / "sqlite_checks" / "run_results.json").read_text())
    assert checks["args"]["which"] == "test"
    assert checks["results"] and {r["status"] for r in checks["results"]} == {"pass"}
