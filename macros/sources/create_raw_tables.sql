{#
    Creates the two raw tables of SPEC section 2 in `database` (default: var source_database),
    with the production engines, sort keys and partitions. Used by `bfstats generate` and the tests.
    dbt run-operation create_raw_tables --args '{database: default}'
#}
{% macro create_raw_tables(database=none) %}
    {%- set db = database or var('source_database') -%}
    {% do run_query('CREATE DATABASE IF NOT EXISTS ' ~ adapter.quote(db)) %}
    {% call statement('create_player_rounds') %}
        create table if not exists {{ adapter.quote(db) }}.`player_rounds`
        (
            round_id String,
            player_name String,
            server_guid String,
            map_name String,
            round_start_time DateTime('UTC'),
            round_end_time DateTime('UTC'),
            final_score Int32,
            final_kills UInt32,
            final_deaths UInt32,
            play_time_minutes Float64,
            team_label String,
            game_id String,
            is_bot UInt8,
            created_at DateTime('UTC'),
            game String,
            average_ping Nullable(Float64)
        )
        engine = ReplacingMergeTree(created_at)
        partition by toYYYYMM(round_start_time)
        order by (player_name, server_guid, round_start_time, round_id)
    {% endcall %}
    {% call statement('create_server_online_counts') %}
        create table if not exists {{ adapter.quote(db) }}.`server_online_counts`
        (
            timestamp DateTime('UTC'),
            server_guid String,
            server_name String,
            map_name String,
            game String,
            players_online UInt16
        )
        engine = ReplacingMergeTree
        partition by toYYYYMM(timestamp)
        order by (server_guid, timestamp, game)
    {% endcall %}
{% endmacro %}
