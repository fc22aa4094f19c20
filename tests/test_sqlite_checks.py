"""The dbt-sqlite checks generated from the catalog (bfstats.sqlite_checks, SPEC section 5): they
cover every table and column, skip what the SQLite schema already guarantees, fail on bad data in
a real SQLite file and pass on the hand-built dataset's tables."""

from __future__ import annotations

import csv
import re
import shlex
import sqlite3
import subprocess
import threading
import time
from contextlib import closing
from pathlib import Path

import datasets
import pytest
from bfstats import catalog as catalog_module
from bfstats import check_project, config, dbt_invoke, mart_tests, sqlite_checks
from bfstats.catalog import pascal_case
from bfstats.check_batches import CheckBatches
from bfstats.reconcile import ReconciliationError, check_table, check_tables
from bfstats.sqlite_schema.ddl import table_ddl
from support import BIN, REPO

# PlayerServerStats as the API's EF Core migration creates it (shared/api-schema.sql): the three
# HighestScore* text columns are nullable there, though the model always fills the first two.
API_PLAYER_SERVER_STATS = """
CREATE TABLE "PlayerServerStats" (
    "PlayerName" TEXT NOT NULL, "ServerGuid" TEXT NOT NULL, "TotalRounds" INTEGER NOT NULL,
    "TotalKills" INTEGER NOT NULL, "TotalDeaths" INTEGER NOT NULL, "TotalScore" INTEGER NOT NULL,
    "TotalPlayTimeMinutes" REAL NOT NULL, "HighestScore" INTEGER NOT NULL,
    "HighestScoreRoundId" TEXT NULL, "HighestScoreMapName" TEXT NULL,
    "HighestScoreTime" TEXT NULL, "UpdatedAt" TEXT NOT NULL,
    CONSTRAINT "PK_PlayerServerStats" PRIMARY KEY ("PlayerName", "ServerGuid"));
CREATE INDEX "IX_PlayerServerStats_ServerGuid" ON "PlayerServerStats" ("ServerGuid");
"""
SHAPES = ["project", "api"]


@pytest.fixture(scope="module")
def catalog():
    return catalog_module.load()


def specs(catalog):
    return [spec for service in catalog.services() for spec in service.tables]


def create_tables(path: Path, catalog, shape: str) -> None:
    """The eight tables as the backfill creates them (`project`) or as the API's file has them."""
    with closing(sqlite3.connect(path)) as conn:
        for spec in specs(catalog):
            if shape == "api" and spec.sqlite_table == "PlayerServerStats":
                conn.executescript(API_PLAYER_SERVER_STATS)
            else:
                for statement in table_ddl(spec).statements:
                    conn.execute(statement)
        conn.commit()


def fill(path: Path, catalog) -> dict[str, int]:
    """The hand-built dataset's rows, as the backfill lands them; returns the row counts."""
    counts = {}
    with closing(sqlite3.connect(path)) as conn:
        for spec in specs(catalog):
            rows = datasets.EXPECTED[spec.model]
            columns = [column.name for column in spec.columns]
            names = ", ".join(f'"{pascal_case(c)}"' for c in columns)
            marks = ", ".join("?" * len(columns))
            conn.executemany(
                f'insert into "{spec.sqlite_table}" ({names}) values ({marks})',
                [tuple(row[c] for c in columns) for row in rows],
            )
            counts[spec.sqlite_table] = len(rows)
        conn.commit()
    return counts


@pytest.fixture
def landed(tmp_path, catalog):
    """An API-shaped SQLite file holding the hand-built dataset's eight tables."""
    path = tmp_path / "api.db"
    create_tables(path, catalog, "api")
    return path, fill(path, catalog)


def plans_for(path: Path | None, catalog) -> dict[str, sqlite_checks.TablePlan]:
    """The checks of every table in the file at `path`; None: a file that has none of them yet."""
    if path is None:
        return {plan.table: plan for plan in sqlite_checks.plan(catalog, None)}
    with closing(sqlite3.connect(path)) as conn:
        return {plan.table: plan for plan in sqlite_checks.plan(catalog, conn)}


def plans_after(tmp_path, catalog, script: str) -> dict[str, sqlite_checks.TablePlan]:
    """The checks of a file with the project's tables, once `script` has changed their schema."""
    path = tmp_path / "altered.db"
    create_tables(path, catalog, "project")
    with closing(sqlite3.connect(path)) as conn:
        conn.executescript(script)
    return plans_for(path, catalog)


def coverage_report(plans) -> str:
    return "\n".join(
        f"{table}.{column}: {'; '.join(what) or 'NOTHING'}"
        for table, plan in plans.items()
        for column, what in plan.coverage().items()
    )


@pytest.mark.parametrize("shape", SHAPES)
def test_every_catalog_column_is_checked_or_guaranteed_by_the_schema(tmp_path, catalog, shape):
    path = tmp_path / "checked.db"
    create_tables(path, catalog, shape)
    plans = plans_for(path, catalog)

    assert set(plans) == {spec.sqlite_table for spec in specs(catalog)}
    report = coverage_report(plans)
    print(report)  # pytest -s shows, per column, what checks it
    for spec in specs(catalog):
        coverage = plans[spec.sqlite_table].coverage()
        assert list(coverage) == [pascal_case(c.name) for c in spec.columns]
        unexplained = plans[spec.sqlite_table].uncovered()
        assert not unexplained, f"{spec.sqlite_table}: {unexplained} have no check\n{report}"
    for table, column in sqlite_checks.UNCHECKED:
        assert column in plans[table].coverage(), f"allow-list names no column {table}.{column}"


@pytest.mark.parametrize("shape", SHAPES)
def test_what_the_schema_guarantees_is_not_scanned(tmp_path, catalog, shape):
    path = tmp_path / "checked.db"
    create_tables(path, catalog, shape)
    plans = plans_for(path, catalog)

    checks = [check for plan in plans.values() for check in plan.checks]
    assert not [c for c in checks if c.test == "unique_key"]  # every table has its PRIMARY KEY
    not_null = {(c.table, c.column) for c in checks if c.test == "not_null"}
    # The three HighestScore* columns are nullable in the API's table and so in the project's
    # DDL (SPEC section 4), while their mart tests say never NULL: the only NOT NULL facts the
    # schema does not already enforce, whichever shape the file has.
    expected = {
        ("PlayerServerStats", "HighestScoreTime"),
        ("PlayerServerStats", "HighestScoreRoundId"),
        ("PlayerServerStats", "HighestScoreMapName"),
    }
    assert not_null == expected
    assert any("NOT NULL" in note for note in plans["PlayerStatsLifetimes"].not_repeated)


@pytest.mark.parametrize("shape", [*SHAPES, None])
def test_an_instant_that_leads_an_index_is_checked_by_its_distinct_values(tmp_path, catalog, shape):
    if shape is None:
        plans = plans_for(None, catalog)  # planned against the project's DDL
    else:
        path = tmp_path / "checked.db"
        create_tables(path, catalog, shape)
        plans = plans_for(path, catalog)
    walked = {
        (check.table, check.column)
        for plan in plans.values()
        for check in plan.checks
        if check.test == "utc_instant" and dict(check.arguments).get("distinct_by_index")
    }
    # IX_ServerOnlineCounts_HourTimestamp: some 4 000 hours instead of 4 M rows at scale 1.
    assert walked == {("ServerOnlineCounts", "HourTimestamp")}


@pytest.mark.parametrize("shape", SHAPES)
def test_with_the_runs_as_of_each_as_of_column_must_hold_exactly_it(tmp_path, catalog, shape):
    """SPEC: UpdatedAt = as_of. Given the run's as_of, the column named by the mart's
    meta.sqlite_as_of_column is compared with it (one text comparison per row) instead of being
    parsed; every other instant column keeps its utc_instant check."""
    path = tmp_path / "checked.db"
    create_tables(path, catalog, shape)
    with closing(sqlite3.connect(path)) as conn:
        plans = {p.table: p for p in sqlite_checks.plan(catalog, conn, as_of=datasets.AS_OF)}

    equals = {
        (check.table, check.column, dict(check.arguments)["value"])
        for plan in plans.values()
        for check in plan.checks
        if check.test == "equals"
    }
    with_updated_at = {
        spec.sqlite_table for spec in specs(catalog) if "updated_at" in spec_columns(spec)
    }
    assert len(with_updated_at) == 5
    assert equals == {(table, "UpdatedAt", datasets.AS_OF_ISO) for table in with_updated_at}
    instants = {
        (check.table, check.column)
        for plan in plans.values()
        for check in plan.checks
        if check.test == "utc_instant"
    }
    assert not {column for _, column in instants} & {"UpdatedAt"}
    assert ("PlayerServerStats", "HighestScoreTime") in instants
    assert not [p.uncovered() for p in plans.values() if p.uncovered()]


def spec_columns(spec) -> set[str]:
    return {column.name for column in spec.columns}


def test_an_updated_at_of_another_instant_fails_against_the_runs_as_of(landed, catalog):
    """A well-formed instant that is not the run's as_of passes the format check of a file
    checked alone, and fails the check of the run that published the table."""
    path, counts = landed
    with closing(sqlite3.connect(path)) as conn:
        changed = conn.execute(
            """update "PlayerMapStats" set "UpdatedAt" = '2024-03-13T11:00:00Z'
               where rowid = (select min(rowid) from "PlayerMapStats")"""
        ).rowcount
        conn.commit()
    assert changed == 1
    spec, rows = catalog.table("PlayerMapStats"), counts["PlayerMapStats"]

    assert check_table(path, spec, rows).ok
    result = check_table(path, spec, rows, as_of=datasets.AS_OF_ISO)
    failed = [(o.check, o.status, o.message) for o in result.outcomes if o.status != "pass"]
    assert len(failed) == 1, failed
    check, status, message = failed[0]
    assert check.startswith("source_equals_target_PlayerMapStats_UpdatedAt") and status == "fail"
    assert "failed with 1 failing row(s)" in message


def test_checks_pass_with_the_runs_as_of_on_the_hand_built_dataset(landed, catalog):
    path, counts = landed
    result = check_tables(
        path, [(catalog.table(t), n) for t, n in counts.items()], as_of=datasets.AS_OF
    )
    assert result.ok, result.problems
    assert sum(1 for o in result.outcomes if "_equals_" in o.check) == 5


def test_an_index_in_another_collation_is_not_walked(tmp_path, catalog):
    plans = plans_after(
        tmp_path,
        catalog,
        'drop index "IX_ServerOnlineCounts_HourTimestamp";'
        'create index "IX_ServerOnlineCounts_HourTimestamp" '
        'on "ServerOnlineCounts" ("HourTimestamp" collate nocase);',
    )
    checks = plans["ServerOnlineCounts"].checks
    instant = [c for c in checks if c.test == "utc_instant"]
    assert [dict(c.arguments) for c in instant] == [{}]


def test_a_table_without_key_or_not_null_gets_those_checks(tmp_path, catalog):
    plan = plans_after(
        tmp_path,
        catalog,
        'alter table "PlayerBestScores" rename to "strict";'
        'create table "PlayerBestScores" as select * from "strict"; drop table "strict";',
    )["PlayerBestScores"]
    tests = {(c.test, c.column) for c in plan.checks}
    assert ("unique_key", None) in tests
    assert {column for test, column in tests if test == "not_null"} == {
        pascal_case(c.name) for c in catalog.table("PlayerBestScores").columns
    }


def test_accepted_values_come_from_the_seeds_and_the_enum(catalog):
    plans = plans_for(None, catalog)

    def accepted(table, column):
        (check,) = [
            c for c in plans[table].checks if c.test == "accepted_values" and c.column == column
        ]
        return list(dict(check.arguments)["values"])

    seeds = config.PROJECT_DIR / "seeds"
    with (seeds / "milestone_thresholds.csv").open() as handle:
        thresholds = sorted(int(row["milestone"]) for row in csv.DictReader(handle))
    with (seeds / "prediction_games.csv").open() as handle:
        games = sorted(row["game"] for row in csv.DictReader(handle))
    assert accepted("PlayerMilestones", "Milestone") == thresholds
    assert accepted("HourlyPlayerPredictions", "Game") == games
    assert accepted("PlayerBestScores", "Period") == ["all_time", "last_30_days", "this_week"]


def test_singular_tests_are_translated_to_the_sqlite_tables(catalog):
    plans = plans_for(None, catalog)
    (milestones,) = [c for c in plans["PlayerMilestones"].checks if c.test == "returns_no_rows"]
    assert milestones.name == "sqlite_player_milestones_reach_their_threshold"
    assert milestones.tables == ("PlayerMilestones", "PlayerStatsLifetimes")
    assert milestones.cross_table
    query = dict(milestones.arguments)["query"]
    assert "{{ source('target', 'PlayerStatsLifetimes') }}" in query
    assert '"TotalKillsAtMilestone"' in query and "total_kills" not in query


@pytest.mark.slow
def test_the_file_reader_finds_the_same_tests_as_dbt(catalog):
    models = [spec.model for spec in specs(catalog)]

    def facts(tests):
        return sorted(
            (t.model, t.name, t.column or "", repr(t.arguments), t.reads, t.is_singular)
            for t in tests
        )

    from_files = mart_tests.load(models)
    from_dbt = mart_tests.from_manifest(dbt_invoke.parse_manifest(), models)
    assert facts(from_files) == facts(from_dbt)
    assert len(from_files) > 40


def test_checks_pass_on_the_hand_built_dataset(landed, catalog):
    path, counts = landed
    result = check_tables(path, [(catalog.table(t), n) for t, n in counts.items()])

    assert result.ok, result.problems
    checked = {o.table for o in result.outcomes if o.check != "row_count"}
    assert checked == set(counts)
    names = {o.check for o in result.outcomes}
    assert "sqlite_player_milestones_reach_their_threshold" in names  # cross-table: both here
    assert any(name.startswith("source_relationships_target_PlayerServerStats") for name in names)
    assert all(o.seconds >= 0 for o in result.outcomes)


BAD_DATA = {
    "day of week 7": (
        "ServerHourlyPatterns",
        """update "ServerHourlyPatterns" set "DayOfWeek" = 7
           where rowid = (select min(rowid) from "ServerHourlyPatterns")""",
        "source_value_between_target_ServerHourlyPatterns_DayOfWeek",
    ),
    "instant without Z": (
        "PlayerStatsLifetimes",
        """update "PlayerStatsLifetimes" set "UpdatedAt" = '2024-03-13T12:00:00'
           where "PlayerName" = 'alice'""",
        "source_utc_instant_target_PlayerStatsLifetimes_UpdatedAt",
    ),
    "hour without Z, in an indexed column": (
        "ServerOnlineCounts",
        """update "ServerOnlineCounts" set "HourTimestamp" = replace("HourTimestamp", 'Z', '')
           where rowid = (select max(rowid) from "ServerOnlineCounts")""",
        "source_utc_instant_target_ServerOnlineCounts_HourTimestamp",
    ),
    "rank 4": (
        "PlayerBestScores",
        """update "PlayerBestScores" set "Rank" = 4
           where "PlayerName" = 'alice' and "Period" = 'all_time' and "Rank" = 1""",
        "source_value_between_target_PlayerBestScores_Rank",
    ),
    "milestone that is no threshold": (
        "PlayerMilestones",
        """update "PlayerMilestones" set "Milestone" = 7000
           where rowid = (select min(rowid) from "PlayerMilestones")""",
        "source_accepted_values_target_PlayerMilestones_Milestone",
    ),
    "null in a nullable API column the model always fills": (
        "PlayerServerStats",
        """update "PlayerServerStats" set "HighestScoreRoundId" = null
           where rowid = (select min(rowid) from "PlayerServerStats")""",
        "source_not_null_target_PlayerServerStats_HighestScoreRoundId",
    ),
}


@pytest.mark.parametrize("breakage", list(BAD_DATA))
def test_bad_data_fails_its_check(landed, catalog, breakage):
    path, counts = landed
    table, statement, check = BAD_DATA[breakage]
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute(statement).rowcount == 1
        conn.commit()

    result = check_table(path, catalog.table(table), counts[table])

    failed = [(o.table, o.check, o.status) for o in result.outcomes if o.status != "pass"]
    assert len(failed) == 1 and failed[0][0] == table, failed
    assert failed[0][1].startswith(check) and failed[0][2] == "fail"
    with pytest.raises(ReconciliationError) as raised:
        result.raise_if_failed()
    message = str(raised.value)
    assert f"SQLite table {table}: dbt test {failed[0][1]} failed with 1 failing row(s)" in message
    assert "--force" in message and "dbt test --project-dir" in message


def add_a_player_missing_from_the_lifetimes(conn) -> None:
    """A PlayerServerStats row of a player PlayerStatsLifetimes does not have."""
    conn.execute(
        """insert into "PlayerServerStats" select 'ghost', "ServerGuid", "TotalRounds",
           "TotalKills", "TotalDeaths", "TotalScore", "TotalPlayTimeMinutes", "HighestScore",
           "HighestScoreRoundId", "HighestScoreMapName", "HighestScoreTime", "UpdatedAt"
           from "PlayerServerStats" limit 1"""
    )


def test_a_player_missing_from_the_lifetimes_fails_when_both_are_checked(landed, catalog):
    path, counts = landed
    with closing(sqlite3.connect(path)) as conn:
        add_a_player_missing_from_the_lifetimes(conn)
        conn.commit()
    server_stats = (catalog.table("PlayerServerStats"), counts["PlayerServerStats"] + 1)
    lifetimes = (catalog.table("PlayerStatsLifetimes"), counts["PlayerStatsLifetimes"])

    # Alone, PlayerServerStats has nothing to compare with: the cross-table check does not run.
    alone = check_tables(path, [server_stats])
    assert alone.ok, alone.problems
    assert not any("relationships" in o.check for o in alone.outcomes)

    both = check_tables(path, [server_stats, lifetimes])
    assert [p for p in both.problems if "relationships" in p] == both.problems
    assert len(both.problems) == 1
    assert both.problems[0].startswith(
        "SQLite table PlayerServerStats: dbt test source_relationships_target_PlayerServerStats"
    )


def test_a_missing_player_counts_once_however_many_rows_name_it(landed, catalog):
    """The relationships check looks each distinct player up once (sqlite_checks/macros/
    test_relationships.sql): two rows of one unknown player are one failure, not two."""
    path, counts = landed
    with closing(sqlite3.connect(path)) as conn:
        added = conn.execute(
            """insert into "PlayerMapStats" select 'ghost', "MapName", "ServerGuid",
               "TotalRounds", "TotalKills", "TotalDeaths", "TotalScore",
               "TotalPlayTimeMinutes", "UpdatedAt"
               from "PlayerMapStats" where "ServerGuid" <> '' limit 2"""
        ).rowcount
        conn.commit()
    assert added == 2
    map_stats = (catalog.table("PlayerMapStats"), counts["PlayerMapStats"] + 2)
    lifetimes = (catalog.table("PlayerStatsLifetimes"), counts["PlayerStatsLifetimes"])

    both = check_tables(path, [map_stats, lifetimes])
    relationships = [o for o in both.outcomes if "relationships" in o.check]
    assert [o.status for o in relationships] == ["fail"]
    assert "failed with 1 failing row(s)" in relationships[0].message


def test_a_row_count_mismatch_is_a_failed_check(landed, catalog):
    path, counts = landed
    result = check_table(path, catalog.table("PlayerMilestones"), counts["PlayerMilestones"] + 1)
    (failure,) = [o for o in result.outcomes if o.status != "pass"]
    assert failure.check == "row_count"
    assert failure.message.startswith("SQLite table PlayerMilestones has 5 rows but the ClickHouse")


def test_the_project_is_parsed_once_per_content(landed, catalog, monkeypatch):
    path, counts = landed
    commands = []
    invoke = dbt_invoke._invoke  # every dbt invocation of the process goes through it

    def counting(project, args, dbt_vars, parsed):
        commands.append(args[0])
        return invoke(project, args, dbt_vars, parsed)

    monkeypatch.setattr(dbt_invoke, "_invoke", counting)
    dbt_invoke.forget_manifests(check_project.SOURCE)
    for table in ("PlayerBestScores", "ServerOnlineCounts", "PlayerBestScores"):
        assert check_table(path, catalog.table(table), counts[table]).ok
    assert commands == ["parse", "test", "test", "test"]


def test_checks_from_several_threads_do_not_overlap(landed, catalog):
    path, counts = landed
    results, errors = {}, []

    def check(table):
        try:
            results[table] = check_table(path, catalog.table(table), counts[table])
        except Exception as error:  # reported below with its table
            errors.append(f"{table}: {error!r}")

    threads = [
        threading.Thread(target=check, args=(t,))
        for t in ("PlayerMapStats", "PlayerBestScores", "ServerHourlyPatterns")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not errors
    assert all(result.ok for result in results.values()), {
        t: r.problems for t, r in results.items()
    }


def _check_while_the_lane_is_busy(batches, tables, commands):
    """Each table's `batches.check` from its own thread, all asked while the dbt lane is held;
    then the lane is let go. Returns table -> CheckResult (or the exception raised)."""
    results = {}

    def check(spec, rows):
        try:
            results[spec.sqlite_table] = batches.check(spec, rows)
        except Exception as error:  # compared below with its table
            results[spec.sqlite_table] = error

    with dbt_invoke.one_at_a_time:  # a build holding the lane
        threads = [threading.Thread(target=check, args=table) for table in tables]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 60
        while len(batches._waiting) < len(tables) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(batches._waiting) == len(tables)
        assert commands == []
    for thread in threads:
        thread.join(timeout=300)
    return results


@pytest.fixture
def counted_tests(monkeypatch):
    commands = []
    invoke = dbt_invoke._invoke

    def counting(project, args, dbt_vars, parsed):
        if args[0] == "test":
            commands.append(args)
        return invoke(project, args, dbt_vars, parsed)

    monkeypatch.setattr(dbt_invoke, "_invoke", counting)
    return commands


def test_tables_waiting_for_the_dbt_lane_are_checked_in_one_invocation(
    landed, catalog, counted_tests
):
    path, counts = landed
    names = ("PlayerMilestones", "ServerHourlyPatterns", "PlayerBestScores")
    tables = [(catalog.table(name), counts[name]) for name in names]
    one_by_one = {name: check_table(path, catalog.table(name), counts[name]) for name in names}
    counted_tests.clear()

    results = _check_while_the_lane_is_busy(CheckBatches(str(path), None), tables, counted_tests)

    assert len(counted_tests) == 1
    for name in names:
        result = results[name]
        assert result.ok, result.problems
        assert result.tables == [name]
        # The same checks as when the table is checked alone, and only its own.
        assert sorted((o.table, o.check, o.status) for o in result.outcomes) == sorted(
            (o.table, o.check, o.status) for o in one_by_one[name].outcomes
        )


def test_in_a_batch_a_table_fails_alone_and_cross_table_checks_wait(landed, catalog, counted_tests):
    path, counts = landed
    with closing(sqlite3.connect(path)) as conn:
        # A player of PlayerServerStats missing from the lifetimes (a cross-table failure) and a
        # rank out of range in PlayerBestScores (that table's own failure).
        add_a_player_missing_from_the_lifetimes(conn)
        conn.execute(BAD_DATA["rank 4"][1])
        conn.commit()
    tables = [
        (catalog.table("PlayerServerStats"), counts["PlayerServerStats"] + 1),
        (catalog.table("PlayerStatsLifetimes"), counts["PlayerStatsLifetimes"]),
        (catalog.table("PlayerBestScores"), counts["PlayerBestScores"]),
    ]

    results = _check_while_the_lane_is_busy(CheckBatches(str(path), None), tables, counted_tests)

    assert len(counted_tests) == 1
    assert results["PlayerServerStats"].ok, results["PlayerServerStats"].problems
    assert results["PlayerStatsLifetimes"].ok, results["PlayerStatsLifetimes"].problems
    assert not any("relationships" in o.check for r in results.values() for o in r.outcomes)
    (problem,) = results["PlayerBestScores"].problems
    assert problem.startswith(
        "SQLite table PlayerBestScores: dbt test source_value_between_target_PlayerBestScores_Rank"
    )
    # The run's check across tables still finds the missing player.
    across = check_tables(path, tables[:2], across_only=True)
    assert [
        o.check.split("_PlayerServerStats")[0] for o in across.outcomes if o.status != "pass"
    ] == ["source_relationships_target"]


def test_a_batch_that_cannot_run_tells_every_waiter_why(landed, catalog, counted_tests):
    path, counts = landed
    tables = [(catalog.table(n), counts[n]) for n in ("PlayerMilestones", "PlayerBestScores")]
    path.unlink()

    results = _check_while_the_lane_is_busy(CheckBatches(str(path), None), tables, counted_tests)

    for name in ("PlayerMilestones", "PlayerBestScores"):
        assert isinstance(results[name], ReconciliationError), results[name]
        assert f"SQLite file {path} does not exist" in str(results[name])


@pytest.mark.slow
def test_the_documented_by_hand_command_runs_the_same_checks(landed, scratch_dir):
    path, _ = landed
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("""update "PlayerBestScores" set "Rank" = 4 where "Rank" = 3""")
        conn.commit()
    env = {
        "PATH": str(BIN),
        "HOME": str(scratch_dir),
        "DBT_TARGET_PATH": str(scratch_dir / "by-hand-target"),
        "DBT_LOG_PATH": str(scratch_dir / "by-hand-logs"),
        "BFSTATS_CHDB_PATH": str(scratch_dir / "by-hand-clickhouse"),
    }
    written = subprocess.run(
        [str(BIN / "python"), "-m", "bfstats.check_project", "--sqlite", str(path)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert written.returncode == 0, written.stderr
    command = written.stdout.strip().splitlines()[-1].strip()
    assert command.startswith(".venv/bin/dbt test --project-dir")
    argv = shlex.split(command.replace("source:target.<Table>", "source:target.PlayerBestScores"))
    ran = subprocess.run(
        [str(BIN / "dbt"), *argv[1:]],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert ran.returncode == 1, ran.stdout
    # The same four checks of PlayerBestScores as the backfill runs; the rank one fails.
    assert re.search(r"FAIL \d+ source_value_between_target_PlayerBestScores_Rank", ran.stdout)
    assert "PASS=3 WARN=0 ERROR=1" in ran.stdout
