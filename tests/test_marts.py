"""The marts on the real embedded ClickHouse: tests/datasets.py built once with `dbt build`,
every mart compared row by row with the hand-computed rows, then one test per SPEC case."""

from __future__ import annotations

import json
import math
import os
import re
import time
from dataclasses import dataclass

import datasets  # tests/ is on sys.path (pytest rootdir-relative "prepend" import mode)
import pytest
from contract import CONTRACT

SOURCE_DATABASE = "marts_test_raw"
TARGET_DATABASE = "marts_test"
DBT_VARS = {"source_database": SOURCE_DATABASE, "as_of": datasets.AS_OF}

PLAYER_MARTS = [
    "player_stats_lifetimes",
    "player_server_stats",
    "player_map_stats",
    "player_milestones",
    "player_best_scores",
]


@dataclass
class Mart:
    columns: list[tuple[str, str]]  # (name, ClickHouse type) as the built table has them
    rows: list[dict]


@dataclass
class Build:
    session: object
    outcome: object
    seconds: float
    marts: dict[str, Mart]


def _quote(name: str) -> str:
    return "`" + name.replace("`", "\\`") + "`"


def _read_mart(session, model: str) -> Mart:
    """All rows, instants as the SQLite text `YYYY-MM-DDTHH:MM:SSZ`, enums by name."""
    result = session.query(
        f"select * from {_quote(TARGET_DATABASE)}.{_quote(model)} "
        "settings output_format_json_quote_64bit_integers = 0",
        "JSONCompactEachRowWithNamesAndTypes",
    )
    lines = result.bytes().decode().splitlines()
    names, types = json.loads(lines[0]), json.loads(lines[1])
    rows = []
    for line in lines[2:]:
        row = {}
        for name, ch_type, value in zip(names, types, json.loads(line), strict=True):
            if "DateTime" in ch_type and value is not None:
                value = value.replace(" ", "T") + "Z"
            row[name] = value
        rows.append(row)
    return Mart(list(zip(names, types, strict=True)), rows)


@pytest.fixture(scope="module")
def build(scratch_dir) -> Build:
    from bfstats import dbt_invoke
    from dbt.adapters.chdb import engine

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BFSTATS_CH_SCHEMA", TARGET_DATABASE)
        session = engine.connect(os.environ["BFSTATS_CHDB_PATH"])
        try:
            for database in (SOURCE_DATABASE, TARGET_DATABASE):
                session.query(f"drop database if exists {_quote(database)}")
            datasets.load_raw(session, SOURCE_DATABASE)
            started = time.monotonic()
            outcome = dbt_invoke.run(["build"], DBT_VARS)
            seconds = time.monotonic() - started
            assert outcome.success, f"dbt build failed: {outcome.messages}"
            marts = {model: _read_mart(session, model) for model in CONTRACT}
            yield Build(session, outcome, seconds, marts)
        finally:
            session.close()


def _key(model: str, row: dict) -> tuple:
    return tuple(row[column] for column in CONTRACT[model]["key"])


def _float_columns(model: str) -> set[str]:
    return {name for name, ch_type in CONTRACT[model]["columns"] if ch_type == "Float64"}


def _assert_same_rows(model: str, actual: list[dict], expected: list[dict]) -> None:
    actual = sorted(actual, key=lambda row: _key(model, row))
    expected = sorted(expected, key=lambda row: _key(model, row))
    assert [_key(model, row) for row in actual] == [_key(model, row) for row in expected]
    floats = _float_columns(model)
    for got, want in zip(actual, expected, strict=True):
        assert got.keys() == want.keys(), f"{model} {_key(model, got)}: columns differ"
        for column, value in want.items():
            if column in floats:
                assert math.isclose(got[column], value, rel_tol=0, abs_tol=1e-9), (
                    f"{model} {_key(model, got)}.{column}: {got[column]!r} != {value!r}"
                )
            else:
                assert got[column] == value, (
                    f"{model} {_key(model, got)}.{column}: {got[column]!r} != {value!r}"
                )


def _rows(build: Build, model: str, **where) -> list[dict]:
    return [
        row
        for row in build.marts[model].rows
        if all(row[column] == value for column, value in where.items())
    ]


def _one(build: Build, model: str, **where) -> dict:
    rows = _rows(build, model, **where)
    assert len(rows) == 1, f"{model} {where}: expected one row, got {rows}"
    return rows[0]


# --- whole marts --------------------------------------------------------------------------------


@pytest.mark.parametrize("model", list(CONTRACT))
def test_mart_holds_exactly_the_expected_rows(build, model):
    _assert_same_rows(model, build.marts[model].rows, datasets.EXPECTED[model])


@pytest.mark.parametrize("model", list(CONTRACT))
def test_mart_columns_and_types_follow_the_contract(build, model):
    assert build.marts[model].columns == CONTRACT[model]["columns"]


def test_build_runs_every_model_seed_and_data_test(build):
    kinds = {}
    for unique_id, status in build.outcome.node_status.items():
        kinds.setdefault(unique_id.split(".")[0], []).append(status)
    assert len(kinds["model"]) == len(CONTRACT)  # the ephemeral layers are not nodes that run
    assert len(kinds["seed"]) == 2
    assert len(kinds["test"]) >= 40
    assert set(kinds["test"]) == {"pass"}


def test_catalog_lists_six_services_and_their_eight_tables(build):
    from bfstats import catalog, dbt_invoke

    loaded = catalog.from_manifest(dbt_invoke.parse_manifest())
    assert sorted(loaded.names) == sorted({spec["service"] for spec in CONTRACT.values()})
    assert len(loaded.names) == 6
    for model, spec in CONTRACT.items():
        table = loaded.table(model)
        assert table.service == spec["service"]
        assert table.sqlite_table == spec["sqlite_table"]
        assert table.database == TARGET_DATABASE
        assert [(c.name, c.clickhouse_type) for c in table.columns] == spec["columns"]
        assert list(table.primary_key) == spec["key"]
        assert [list(index) for index in table.indexes] == spec["indexes"]
    assert sorted(loaded.service("player-stats").models) == [
        "player_map_stats",
        "player_server_stats",
        "player_stats_lifetimes",
    ]


def test_player_stats_selector_builds_exactly_the_three_player_stats_models(build):
    from bfstats import dbt_invoke

    # One second later a-late (ended exactly at the first as_of) counts: the selective run
    # reads its own as_of, nothing left over from the full build.
    later = {**DBT_VARS, "as_of": "2024-03-13T12:00:01Z"}
    outcome = dbt_invoke.run(["run", "--select", "player_stats"], later)
    assert outcome.success, outcome.messages
    built = {uid for uid in outcome.node_status if uid.startswith("model.")}
    assert built == {
        "model.bfstats.player_stats_lifetimes",
        "model.bfstats.player_server_stats",
        "model.bfstats.player_map_stats",
    }
    rebuilt = _read_mart(build.session, "player_stats_lifetimes").rows
    alice = next(row for row in rebuilt if row["player_name"] == "alice")
    assert (alice["total_rounds"], alice["updated_at"]) == (6, "2024-03-13T12:00:01Z")


# --- deduplication ------------------------------------------------------------------------------


def test_resent_round_counts_once_and_its_newest_version_wins(build):
    alice = _one(build, "player_stats_lifetimes", player_name="alice")
    assert alice["total_rounds"] == 5
    wake = _one(
        build, "player_map_stats", player_name="alice", map_name="wake", server_guid="srv-1"
    )
    # a-1 at created_at 10:40 (score 60, 6 kills) beats 10:31 (50, 5); a-2's re-send with an
    # older created_at (999, 50 kills) loses although it was inserted later.
    assert (wake["total_rounds"], wake["total_score"], wake["total_kills"]) == (2, 360, 8)
    assert all(row["final_score"] != 999 for row in _rows(build, "player_best_scores"))


def test_resent_sample_counts_once_and_the_last_insert_wins(build):
    hour = _one(
        build, "server_online_counts", server_guid="srv-1", hour_timestamp="2024-03-04T14:00:00Z"
    )
    assert (hour["sample_count"], hour["peak_players"], hour["avg_players"]) == (3, 12, 8.0)


# --- who and what counts ------------------------------------------------------------------------


def test_bots_are_excluded_from_every_player_mart(build):
    for model in PLAYER_MARTS:
        assert not _rows(build, model, player_name=datasets.BOT_PLAYER), model
    # alice's bot row (score 9999, 500 kills) and mike's (100 000 kills) count nowhere.
    assert _one(build, "player_stats_lifetimes", player_name="alice")["total_kills"] == 12
    assert [row["milestone"] for row in _rows(build, "player_milestones", player_name="mike")] == [
        5000,
        10000,
        20000,
        50000,
        75000,
    ]
    first = _one(build, "player_stats_lifetimes", player_name="mike")["first_round_time"]
    assert first == "2024-01-01T23:00:00Z"


def test_round_ending_exactly_at_as_of_is_excluded(build):
    round_ids = {row["round_id"] for row in _rows(build, "player_best_scores")}
    assert not round_ids & {"a-late", "b-11"}
    assert _one(build, "player_stats_lifetimes", player_name="bella")["total_rounds"] == 10
    assert _one(build, "player_stats_lifetimes", player_name="mike")["total_kills"] == 75500


def test_samples_at_the_180_day_edge_count_and_one_second_earlier_do_not(build):
    edge = _one(
        build, "server_online_counts", server_guid="srv-1", hour_timestamp="2023-09-15T12:00:00Z"
    )
    assert (edge["sample_count"], edge["avg_players"]) == (1, 2.0)
    assert not _rows(build, "server_online_counts", hour_timestamp="2023-09-15T11:00:00Z")


def test_sample_at_as_of_is_excluded(build):
    last = _one(
        build, "server_online_counts", server_guid="srv-1", hour_timestamp="2024-03-13T11:00:00Z"
    )
    assert (last["sample_count"], last["peak_players"]) == (1, 5)
    assert not _rows(build, "server_online_counts", hour_timestamp="2024-03-13T12:00:00Z")


def test_hours_at_the_60_day_edge_count_and_one_hour_earlier_do_not(build):
    # Saturday 2024-01-13 12:00 is as_of - 60 days: counted; 11:00 that day is not.
    first_hour = _one(
        build, "server_hourly_patterns", server_guid="srv-1", day_of_week=6, hour_of_day=12
    )
    assert (first_hour["data_points"], first_hour["min_players"]) == (2, 11.0)
    before = _one(
        build, "server_hourly_patterns", server_guid="srv-1", day_of_week=6, hour_of_day=11
    )
    assert (before["data_points"], before["min_players"]) == (1, 15.0)
    assert (
        _one(build, "hourly_player_predictions", game="bf1942", day_of_week=6, hour_of_day=11)[
            "data_points"
        ]
        == 1
    )


# --- hours, days and games ----------------------------------------------------------------------


def test_sunday_is_day_zero(build):
    # 2024-03-10 is a Sunday; its 15:00 hour is the only one at that weekday and hour.
    assert _one(build, "server_hourly_patterns", day_of_week=0)["hour_of_day"] == 15
    assert _one(build, "hourly_player_predictions", day_of_week=0)["hour_of_day"] == 15
    days = {row["day_of_week"] for row in _rows(build, "server_hourly_patterns")}
    assert days <= set(range(7))


def test_game_of_an_hour_is_the_latest_sample_then_the_greatest_string(build):
    tie = _one(
        build, "server_online_counts", server_guid="srv-1", hour_timestamp="2024-03-05T09:00:00Z"
    )
    latest = _one(
        build, "server_online_counts", server_guid="srv-1", hour_timestamp="2024-03-06T09:00:00Z"
    )
    assert (tie["game"], latest["game"]) == ("fh2", "bf1942")


def test_percentiles_are_inclusive_linear_on_even_and_odd_counts(build):
    even = _one(build, "server_hourly_patterns", server_guid="srv-1", day_of_week=1, hour_of_day=20)
    odd = _one(build, "server_hourly_patterns", server_guid="srv-1", day_of_week=2, hour_of_day=8)
    quantiles = ["q25_players", "median_players", "q75_players", "q90_players"]
    assert [even[q] for q in quantiles] == pytest.approx([17.5, 30.0, 50.0, 68.0], abs=1e-9)
    assert [odd[q] for q in quantiles] == pytest.approx([3.0, 5.0, 7.0, 8.2], abs=1e-9)


def test_predictions_sum_servers_per_hour_and_average_over_dates(build):
    monday = _one(build, "hourly_player_predictions", game="bf1942", day_of_week=1, hour_of_day=20)
    assert (monday["predicted_players"], monday["data_points"]) == (39.0, 4)
    tuesday = _one(build, "hourly_player_predictions", game="fh2", day_of_week=2, hour_of_day=9)
    assert (tuesday["predicted_players"], tuesday["data_points"]) == (6.0, 2)


def test_game_outside_the_prediction_seed_is_ignored(build):
    assert {row["game"] for row in _rows(build, "hourly_player_predictions")} == {"bf1942", "fh2"}
    assert _rows(build, "server_hourly_patterns", server_guid="srv-3")  # still has its pattern


# --- player ratios and records ------------------------------------------------------------------


def test_kd_ratio_with_zero_deaths_is_the_kills_and_kill_rate_with_zero_minutes_is_zero(build):
    zed = _one(build, "player_stats_lifetimes", player_name="zed")
    assert (zed["kd_ratio"], zed["kill_rate"]) == (7.0, 0.0)


def test_ratios_are_rounded_to_three_decimals(build):
    alice = _one(build, "player_stats_lifetimes", player_name="alice")
    assert alice["kd_ratio"] == pytest.approx(1.714, abs=1e-9)  # 12 / 7
    assert alice["kill_rate"] == pytest.approx(0.104, abs=1e-9)  # 12 / 115


def test_highest_score_ties_go_to_the_earliest_end_then_the_smallest_round_id(build):
    by_end = _one(build, "player_server_stats", player_name="alice", server_guid="srv-1")
    by_id = _one(build, "player_server_stats", player_name="alice", server_guid="srv-2")
    assert (by_end["highest_score_round_id"], by_end["highest_score_time"]) == (
        "a-3",
        "2024-01-20T10:00:00Z",
    )
    assert (by_id["highest_score_round_id"], by_id["highest_score_map_name"]) == ("a-w", "berlin")


def test_cross_server_map_rows_have_an_empty_server_guid(build):
    overall = _one(build, "player_map_stats", player_name="bella", map_name="wake", server_guid="")
    per_server = _rows(build, "player_map_stats", player_name="bella", map_name="wake")
    assert overall["total_rounds"] == sum(
        row["total_rounds"] for row in per_server if row["server_guid"]
    )


def test_player_names_with_quotes_emoji_and_empty_names_survive(build):
    names = {row["player_name"] for row in _rows(build, "player_stats_lifetimes")}
    assert datasets.QUOTED_PLAYER in names
    assert datasets.EMPTY_PLAYER in names


# --- milestones ---------------------------------------------------------------------------------


def test_one_round_reaching_two_milestones_gives_a_row_for_each(build):
    rows = _rows(build, "player_milestones", player_name="mike", achieved_at="2024-02-01T11:00:00Z")
    assert sorted(row["milestone"] for row in rows) == [10000, 20000]
    assert {row["total_kills_at_milestone"] for row in rows} == {21000}


def test_milestone_order_breaks_equal_ends_by_start_then_round_id(build):
    by_start = _one(build, "player_milestones", player_name="mike", milestone=50000)
    by_round_id = _one(build, "player_milestones", player_name="mike", milestone=75000)
    assert by_start["total_kills_at_milestone"] == 50000
    assert by_round_id["total_kills_at_milestone"] == 75000


def test_days_to_achieve_counts_utc_calendar_days(build):
    # First start 2024-01-01 23:00, reached 2024-01-02 00:30: 1.5 hours but one day boundary.
    assert (
        _one(build, "player_milestones", player_name="mike", milestone=5000)["days_to_achieve"] == 1
    )


# --- best scores --------------------------------------------------------------------------------


def _best(build, player, period):
    rows = sorted(
        _rows(build, "player_best_scores", player_name=player, period=period),
        key=lambda row: row["rank"],
    )
    return [row["round_id"] for row in rows]


def test_best_score_ties_go_to_the_earliest_end_then_the_smallest_round_id(build):
    assert _best(build, "bella", "all_time") == ["b-6", "b-2", "b-1"]
    assert _best(build, "bella", "this_week") == ["b-3", "b-7a", "b-7z"]


def test_this_week_starts_on_monday_at_midnight_utc(build):
    # b-3 ends Monday 00:00:00 (in), b-4 Sunday 23:59:59 (out).
    assert "b-3" in _best(build, "bella", "this_week")
    assert "b-4" not in _best(build, "bella", "this_week")
    assert "b-4" in _best(build, "bella", "last_30_days")


def test_last_30_days_includes_its_first_second(build):
    assert _best(build, "bella", "last_30_days")[0] == "b-5"  # ends as_of - 30 days exactly
    assert "b-6" not in _best(build, "bella", "last_30_days")  # one second earlier


def test_only_positive_scores_rank_and_fewer_rounds_give_fewer_rows(build):
    assert not _rows(build, "player_best_scores", player_name="mike")  # every score is 0
    assert not _rows(build, "player_best_scores", player_name=datasets.EMPTY_PLAYER)  # -10
    assert _best(build, "zed", "all_time") == ["z-1"]
    assert _best(build, "zed", "this_week") == []


# --- the as_of var ------------------------------------------------------------------------------


def _compile_as_of(value):
    from bfstats import dbt_invoke

    outcome = dbt_invoke.run(["compile", "--inline", "select {{ as_of() }}"], {"as_of": value})
    compiled = None
    if outcome.success:
        compiled = outcome.result.results[0].node.compiled_code
    return outcome, compiled


@pytest.mark.parametrize("value", ["2024-03-13 12:00:00", "2024-03-13T12:00:00Z"])
def test_as_of_var_accepts_both_spellings_of_a_utc_instant(build, value):
    outcome, compiled = _compile_as_of(value)
    assert outcome.success, outcome.messages
    assert "toDateTime('2024-03-13 12:00:00', 'UTC')" in compiled


def test_as_of_var_empty_is_the_run_start_truncated_to_the_second(build):
    outcome, compiled = _compile_as_of("")
    assert outcome.success, outcome.messages
    match = re.search(r"toDateTime\('(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)', 'UTC'\)", compiled)
    assert match, compiled
    assert abs(time.time() - _epoch(match.group(1))) < 600  # an instant of this run


def _epoch(text: str) -> float:
    from datetime import UTC, datetime

    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    "value",
    [
        "2024-02-30 00:00:00",  # no such day
        "2024-03-13 24:00:00",
        "2024-03-13T12:00:00",  # ISO without Z: the zone is not stated
        "2024-03-13 12:00:00'), 'UTC') union all select 1 --",
        "yesterday",
    ],
)
def test_as_of_var_rejects_anything_but_a_valid_utc_instant(build, value):
    outcome, _ = _compile_as_of(value)
    assert not outcome.success
    assert "as_of" in " ".join(outcome.messages.values())


def test_unique_combination_reports_each_repeated_key_once(build):
    """The composite-key test (macros/tests/unique_combination.sql) finds repeated keys through a
    hash of the key first: one key on three rows and another on two are two failures."""
    from bfstats import dbt_invoke

    table = f"{_quote(TARGET_DATABASE)}.{_quote('player_map_stats')}"
    marker = 987_654_321  # total_rounds of the added rows, so that they can be taken out again
    first, second = build.marts["player_map_stats"].rows[:2]
    columns = [name for name, _ in build.marts["player_map_stats"].columns]
    for row, copies in ((first, 2), (second, 1)):
        keys = " and ".join(
            f"{_quote(c)} = {_literal(row[c])}" for c in ("player_name", "map_name", "server_guid")
        )
        values = ", ".join(str(marker) if c == "total_rounds" else _quote(c) for c in columns)
        for _ in range(copies):
            build.session.query(
                f"insert into {table} select {values} from {table} where {keys}"
                f" and total_rounds <> {marker}"
            )
    try:
        outcome = dbt_invoke.run(
            ["test", "--select", "player_map_stats,test_name:unique_combination"], DBT_VARS
        )
        assert not outcome.success
        assert outcome.tests_run() == 1
        (message,) = outcome.messages.values()
        assert "Got 2 results" in message
    finally:
        build.session.query(
            f"alter table {table} delete where total_rounds = {marker} settings mutations_sync = 1"
        )
    assert dbt_invoke.run(
        ["test", "--select", "player_map_stats,test_name:unique_combination"], DBT_VARS
    ).success


def _literal(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _on_run_end_sql(outcome) -> list[str]:
    return [
        result.node.compiled_code.strip()
        for result in outcome.result.results
        if result.node.unique_id.startswith("operation.bfstats.bfstats-on-run-end")
    ]


def test_the_largest_marts_tests_hand_the_engines_memory_back(build):
    """The on-run-end hook purges the embedded engine's allocator after an invocation that ran
    player_map_stats' data tests (they left the process about 350 MB larger at scale 1), and
    renders nothing after any other."""
    from bfstats import dbt_invoke

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BFSTATS_CH_SCHEMA", TARGET_DATABASE)
        tested = dbt_invoke.run(["test", "--select", "player_map_stats"], DBT_VARS)
        other = dbt_invoke.run(["test", "--select", "player_milestones"], DBT_VARS)
    assert tested.success and other.success, (tested.messages, other.messages)
    assert _on_run_end_sql(tested) == ["system jemalloc purge"]
    assert _on_run_end_sql(other) == [""]
