"""The dbt unit tests (`unit_tests:` in the models' folder YAML files) on the embedded engine.

They replace each model's parents with fixed rows and compare the model's output with
hand-computed rows, so they need neither raw data nor built tables: they run here against a
source database that does not exist (the on-run-start check of the raw tables stands aside when
only unit tests are selected). Listing them here by name
makes a unit test that disappears from the YAML (a typo, a bad merge) fail this test instead of
silently no longer running.
"""

from __future__ import annotations

import re

# dbt renders a unit test's diff with terminal colours.
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")

UNIT_TESTS = {
    "int_counted_player_rounds": ["counted_rounds_exclude_bots_and_rounds_ending_at_as_of"],
    "int_player_cumulative_kills": ["cumulative_kills_follow_end_then_start_then_round_id"],
    "int_server_samples_in_window": ["samples_window_is_180_days_start_included_as_of_excluded"],
    "server_online_counts": ["hourly_game_is_the_latest_samples_then_the_greatest_string"],
    "player_milestones": ["milestones_one_round_can_reach_two_thresholds"],
    "player_best_scores": [
        "best_scores_ties_and_period_edges",
        "best_scores_fewer_positive_rounds_fewer_rows",
    ],
    "server_hourly_patterns": [
        "hourly_patterns_percentiles_on_odd_and_even_counts",
        "hourly_patterns_sunday_is_0_and_60_day_window_edges",
    ],
    "hourly_player_predictions": ["predictions_sum_servers_then_average_dates"],
    "player_server_stats": [
        "server_stats_highest_round_ties_go_to_earliest_end_then_smallest_round_id"
    ],
    "player_stats_lifetimes": [
        "lifetimes_ratios_round_to_3_places_and_survive_zero_deaths_and_minutes"
    ],
    "player_map_stats": ["map_stats_add_a_cross_server_row_with_empty_server_guid"],
}


def test_every_dbt_unit_test_runs_and_passes():
    from bfstats import dbt_invoke

    outcome = dbt_invoke.run(
        ["test", "--select", "test_type:unit"],
        {"source_database": "bfstats_unit_tests_read_no_raw_tables"},
    )

    expected = {
        f"unit_test.bfstats.{model}.{name}" for model, names in UNIT_TESTS.items() for name in names
    }
    ran = {
        unique_id: status
        for unique_id, status in outcome.node_status.items()
        if unique_id.startswith("unit_test.")
    }
    failures = [
        f"{unique_id}: {ANSI_ESCAPE.sub('', outcome.messages.get(unique_id, status))}"
        for unique_id, status in ran.items()
        if status != "pass"
    ]
    assert not failures, "dbt unit tests failed:\n" + "\n".join(failures)
    assert set(ran) == expected, (
        f"unit tests missing: {sorted(expected - set(ran))}; "
        f"not listed in this test: {sorted(set(ran) - expected)}"
    )
    assert outcome.success, outcome.messages
