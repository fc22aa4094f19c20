{#
    One row describing the raw tables in `database` (default: var source_database), as a query
    for `dbt show --inline "{{ demo_raw_summary() }}"`, so the counts come back to Python on the
    embedded engine and on a ClickHouse server alike. `detail=false` gives the row counts only
    (cheap: the emptiness check before generating).
#}
{% macro demo_raw_summary(database=none, detail=true) -%}
    {%- set db = database or var('source_database') -%}
    {%- set rounds = adapter.quote(db) ~ '.`player_rounds`' -%}
    {%- set samples = adapter.quote(db) ~ '.`server_online_counts`' -%}
    select
        {{ demo_literal(db) }} as source_database,
        (select count() from {{ rounds }}) as player_rounds_rows,
        (select count() from {{ samples }}) as server_online_counts_rows
    {%- if detail %},
            (select count() from {{ rounds }} final) as player_rounds_final_rows,
            (select count() from {{ samples }} final) as server_online_counts_final_rows,
            (select uniqExact(player_name) from {{ rounds }}) as players,
            (select uniqExact(player_name) from {{ rounds }} where is_bot = 1) as bots,
            (select uniqExact(round_id) from {{ rounds }}) as rounds,
            (select countIf(final_score < 0) from {{ rounds }} final) as negative_scores,
            (select countIf(average_ping is null) from {{ rounds }} final) as missing_pings,
            (select uniqExact(server_guid) from {{ samples }}) as servers,
            (
                select uniqExact(server_guid, toStartOfHour(`timestamp`)) from {{ samples }}
            ) as server_hours,
            (
                select arrayStringConcat(arraySort(groupUniqArray(game)), ',')
                from (
                    select game from {{ rounds }}
                    union all
                    select game from {{ samples }}
                )
            ) as games,
            (
                select max(kills)
                from (
                    select sum(final_kills) as kills
                    from {{ rounds }} final
                    where is_bot = 0
                    group by player_name
                )
            ) as max_player_kills,
            (
                select countIf(kills >= 100000)
                from (
                    select sum(final_kills) as kills
                    from {{ rounds }} final
                    where is_bot = 0
                    group by player_name
                )
            ) as players_over_100k_kills,
            (select toString(min(`timestamp`)) from {{ samples }}) as first_sample,
            (select toString(max(`timestamp`)) from {{ samples }}) as last_sample
    {%- endif %}
{%- endmacro %}
