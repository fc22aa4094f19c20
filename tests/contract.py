"""The contract of the 8 marts (SPEC section 4): service, SQLite table, column names, order and
ClickHouse types, written out by hand, independently of the models' YAML, so that a drift in
either shows in the tests. The primary key and the secondary indexes are the API's own
(tests/fixtures/api-schema.sql), translated to the model's column names, so that no second copy
of them exists. test_marts.py and the SQLite schema tests share it."""

from __future__ import annotations

import api_schema

CONTRACT = {
    "server_online_counts": {
        "service": "server-online-counts",
        "sqlite_table": "ServerOnlineCounts",
        "columns": [
            ("server_guid", "String"),
            ("hour_timestamp", "DateTime('UTC')"),
            ("game", "LowCardinality(String)"),
            ("avg_players", "Float64"),
            ("peak_players", "UInt16"),
            ("sample_count", "UInt64"),
        ],
    },
    "player_stats_lifetimes": {
        "service": "player-stats",
        "sqlite_table": "PlayerStatsLifetimes",
        "columns": [
            ("player_name", "String"),
            ("total_rounds", "UInt64"),
            ("total_kills", "UInt64"),
            ("total_deaths", "UInt64"),
            ("total_score", "Int64"),
            ("total_play_time_minutes", "Float64"),
            ("avg_score_per_round", "Float64"),
            ("kd_ratio", "Float64"),
            ("kill_rate", "Float64"),
            ("first_round_time", "DateTime('UTC')"),
            ("last_round_time", "DateTime('UTC')"),
            ("updated_at", "DateTime('UTC')"),
        ],
    },
    "player_server_stats": {
        "service": "player-stats",
        "sqlite_table": "PlayerServerStats",
        "columns": [
            ("player_name", "String"),
            ("server_guid", "String"),
            ("total_rounds", "UInt64"),
            ("total_kills", "UInt64"),
            ("total_deaths", "UInt64"),
            ("total_score", "Int64"),
            ("total_play_time_minutes", "Float64"),
            ("highest_score", "Int32"),
            ("highest_score_round_id", "Nullable(String)"),
            ("highest_score_map_name", "Nullable(String)"),
            ("highest_score_time", "Nullable(DateTime('UTC'))"),
            ("updated_at", "DateTime('UTC')"),
        ],
    },
    "player_map_stats": {
        "service": "player-stats",
        "sqlite_table": "PlayerMapStats",
        "columns": [
            ("player_name", "String"),
            ("map_name", "String"),
            ("server_guid", "String"),
            ("total_rounds", "UInt64"),
            ("total_kills", "UInt64"),
            ("total_deaths", "UInt64"),
            ("total_score", "Int64"),
            ("total_play_time_minutes", "Float64"),
            ("updated_at", "DateTime('UTC')"),
        ],
    },
    "player_milestones": {
        "service": "player-milestones",
        "sqlite_table": "PlayerMilestones",
        "columns": [
            ("player_name", "String"),
            ("milestone", "UInt32"),
            ("achieved_at", "DateTime('UTC')"),
            ("total_kills_at_milestone", "UInt64"),
            ("days_to_achieve", "Int64"),
        ],
    },
    "player_best_scores": {
        "service": "player-best-scores",
        "sqlite_table": "PlayerBestScores",
        "columns": [
            ("player_name", "String"),
            ("period", "Enum8('all_time' = 1, 'last_30_days' = 2, 'this_week' = 3)"),
            ("rank", "UInt8"),
            ("final_score", "Int32"),
            ("final_kills", "UInt32"),
            ("final_deaths", "UInt32"),
            ("map_name", "String"),
            ("server_guid", "String"),
            ("round_end_time", "DateTime('UTC')"),
            ("round_id", "String"),
        ],
    },
    "server_hourly_patterns": {
        "service": "server-hourly-patterns",
        "sqlite_table": "ServerHourlyPatterns",
        "columns": [
            ("server_guid", "String"),
            ("day_of_week", "UInt8"),
            ("hour_of_day", "UInt8"),
            ("avg_players", "Float64"),
            ("min_players", "Float64"),
            ("q25_players", "Float64"),
            ("median_players", "Float64"),
            ("q75_players", "Float64"),
            ("q90_players", "Float64"),
            ("max_players", "Float64"),
            ("data_points", "UInt64"),
            ("updated_at", "DateTime('UTC')"),
        ],
    },
    "hourly_player_predictions": {
        "service": "hourly-player-predictions",
        "sqlite_table": "HourlyPlayerPredictions",
        "columns": [
            ("game", "LowCardinality(String)"),
            ("day_of_week", "UInt8"),
            ("hour_of_day", "UInt8"),
            ("predicted_players", "Float64"),
            ("data_points", "UInt64"),
            ("updated_at", "DateTime('UTC')"),
        ],
    },
}


def _model_columns(mart: dict, sqlite_columns) -> list[str]:
    """The model columns behind SQLite columns: `q25_players` is `Q25Players` (EF Core names
    are the snake_case names without underscores, in PascalCase)."""
    by_folded = {name.replace("_", ""): name for name, _ in mart["columns"]}
    return [by_folded[column.lower()] for column in sqlite_columns]


def _add_key_and_indexes(contract: dict) -> None:
    for mart in contract.values():
        table = api_schema.table(mart["sqlite_table"])
        mart["key"] = _model_columns(mart, table.primary_key)
        mart["indexes"] = [_model_columns(mart, index.columns) for index in table.indexes]


_add_key_and_indexes(CONTRACT)
