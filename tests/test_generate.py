"""`bfstats generate` on the pytest process's embedded engine, at a small scale, in a database of
its own (dbt var source_database) so that it never meets the other tests' raw tables."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from bfstats import dbt_invoke, demo
from bfstats.cli import UsageError

DATABASE = "bfstats_test_generate"
DBT_VARS = {"source_database": DATABASE}
SCALE = 0.002
SEED = 7
END = datetime(2026, 3, 15, 18, 30, tzinfo=UTC)
CADENCE_MINUTES = 5
DAYS = 40
TABLES = ("player_rounds", "server_online_counts")


def _generate(**overrides) -> demo.GenerateReport:
    arguments = dict(
        scale=SCALE,
        seed=SEED,
        cadence_minutes=CADENCE_MINUTES,
        days=DAYS,
        replace=True,
        end_time=END,
        dbt_vars=DBT_VARS,
    )
    return demo.generate(**{**arguments, **overrides})


def _scalar(session, sql: str):
    return session.query(sql, "CSV").bytes().decode().strip().strip('"')


def _checksum(session) -> tuple[str, ...]:
    """Order-independent fingerprint of the deduplicated contents of both raw tables."""
    return tuple(
        _scalar(session, f"select count(), sum(cityHash64(*)) from {DATABASE}.{table} final")
        for table in TABLES
    )


@pytest.fixture(scope="module")
def report():
    """One generated data set for the module. Background merges are stopped on its tables while
    the module runs: a merge would fold the re-sent duplicates away, which is what ClickHouse
    does to production data too, but it would make the duplicate counts depend on timing."""
    from dbt.adapters.chdb import engine

    dbt_invoke.run_operation("create_raw_tables", {}, DBT_VARS)
    session = engine.connect(engine_path())
    try:
        for table in TABLES:
            session.query(f"SYSTEM STOP MERGES {DATABASE}.{table}")
    finally:
        session.close()
    yield _generate()
    session = engine.connect(engine_path())
    try:
        session.query(f"DROP DATABASE IF EXISTS {DATABASE}")
    finally:
        session.close()


def engine_path() -> str:
    from bfstats import config

    return str(config.chdb_path())


def test_rows_exist_in_both_tables_and_the_report_counts_them(report, clickhouse):
    for table in TABLES:
        rows = int(_scalar(clickhouse, f"select count() from {DATABASE}.{table}"))
        assert rows > 0
        assert report.counts[f"{table}_rows"] == rows
    assert report.source_database == DATABASE
    assert report.counts["servers"] == 4  # the floor of small scales
    assert report.counts["players"] > 50


def test_re_sent_rows_duplicate_the_dedup_key(report, clickhouse):
    for table in TABLES:
        rows = int(_scalar(clickhouse, f"select count() from {DATABASE}.{table}"))
        final_rows = int(_scalar(clickhouse, f"select count() from {DATABASE}.{table} final"))
        assert rows > final_rows
        assert report.duplicates(table) == rows - final_rows
    # Some copies are corrections (one more kill); being re-sent later (a newer created_at), they
    # are the version FINAL keeps.
    kept_correction, corrected = _scalar(
        clickhouse,
        f"""
        select countIf(kept.final_kills = sent.most_kills), count()
        from (
            select player_name, server_guid, round_start_time, round_id,
                   max(final_kills) as most_kills
            from {DATABASE}.player_rounds
            group by player_name, server_guid, round_start_time, round_id
            having uniqExact(final_kills) > 1
        ) as sent
        inner join (select * from {DATABASE}.player_rounds final) as kept
            using (player_name, server_guid, round_start_time, round_id)
        """,
    ).split(",")
    assert int(corrected) > 0
    assert kept_correction == corrected


def test_kinds_of_rows(report, clickhouse):
    rounds = f"{DATABASE}.player_rounds"
    assert int(_scalar(clickhouse, f"select countIf(is_bot = 1) from {rounds}")) > 0
    assert int(_scalar(clickhouse, f"select countIf(final_score < 0) from {rounds}")) > 0
    assert int(_scalar(clickhouse, f"select countIf(average_ping is null) from {rounds}")) > 0
    games = _scalar(
        clickhouse,
        f"select arrayStringConcat(arraySort(groupUniqArray(game)), ',') from "
        f"(select game from {rounds} union all select game from {DATABASE}.server_online_counts)",
    )
    assert {"bf1942", "fh2", "bfvietnam"} <= set(games.split(","))
    # Players of one round share its round_id.
    assert (
        int(
            _scalar(
                clickhouse,
                f"select max(c) from (select count() as c from {rounds} final group by round_id)",
            )
        )
        > 1
    )
    # Names beyond ASCII and with quotes, which the loaders must carry unchanged.
    assert (
        int(
            _scalar(
                clickhouse,
                f"select countIf(lengthUTF8(player_name) < length(player_name)) from {rounds}",
            )
        )
        > 0
    )
    assert (
        int(_scalar(clickhouse, f"select countIf(position(player_name, '\\'') > 0) from {rounds}"))
        > 0
    )


def test_samples_end_at_the_end_time_on_the_cadence(report, clickhouse):
    samples = f"{DATABASE}.server_online_counts"
    first, last, off_cadence, empty = (
        _scalar(
            clickhouse,
            f"select toString(min(timestamp)), toString(max(timestamp)), "
            f"countIf((toUnixTimestamp(timestamp) - {int(END.timestamp())}) % "
            f"{CADENCE_MINUTES * 60} != 0), countIf(players_online = 0) from {samples}",
        )
        .replace('"', "")
        .split(",")
    )
    assert last == END.strftime("%Y-%m-%d %H:%M:%S")
    assert datetime.fromisoformat(first).replace(tzinfo=UTC) > END - timedelta(days=DAYS)
    assert off_cadence == "0"
    assert empty == "0"  # no row when nobody is online


def test_same_inputs_give_the_same_rows_and_another_seed_does_not(report, clickhouse):
    first = _checksum(clickhouse)
    _generate()
    again = _checksum(clickhouse)
    _generate(seed=SEED + 1)
    other_seed = _checksum(clickhouse)
    _generate()  # leave the module's data set as the other tests expect it
    assert again == first
    assert other_seed != first


def test_refuses_tables_that_hold_rows_unless_replace(report):
    with pytest.raises(UsageError, match="--replace"):
        _generate(replace=False)
    assert _generate(replace=True).replaced_rows > 0


@pytest.mark.parametrize(
    "overrides",
    [
        {"scale": 0},
        {"scale": -1},
        {"scale": math.nan},
        {"scale": math.inf},
        {"scale": demo.MAX_SCALE * 2},
        {"scale": "1"},
        {"days": 0},
        {"cadence_minutes": 0},
        {"seed": 2**64},
        {"end_time": datetime(1970, 1, 5, tzinfo=UTC)},
    ],
)
def test_bad_inputs_are_rejected_before_anything_runs(overrides):
    with pytest.raises(UsageError):
        _generate(dbt_vars={"source_database": "bfstats_test_generate_never_created"}, **overrides)


def test_summary_names_the_target_and_the_database(report):
    lines = report.summary_lines()
    assert "embedded ClickHouse at" in lines[0]
    assert f"`{DATABASE}`" in lines[0]
    assert any("re-sent duplicates" in line for line in lines)
