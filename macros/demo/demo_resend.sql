{# About 2 % of the samples again; a third of them corrected by one player (the later row wins). #}
{% macro demo_resend_server_samples_sql(shape) -%}
    insert into {{ shape.db }}.`server_online_counts`
    (`timestamp`, server_guid, server_name, map_name, game, players_online)
    select
        `timestamp`,
        server_guid,
        server_name,
        map_name,
        game,
        if(
            {{ demo_draw(shape.seed, 'corrected', 'server_guid', '`timestamp`') }} % 3 = 0,
            if(players_online > 1, players_online - 1, players_online + 1),
            players_online
        )
    from {{ shape.db }}.`server_online_counts`
    where {{ demo_draw(shape.seed, 'resent', 'server_guid', '`timestamp`') }} % 1000 < 20
    settings max_partitions_per_insert_block = 0
{%- endmacro %}


{#
    About 3 % of the player rounds again with a later created_at (the version column); a third of
    them with corrected kills and score, which FINAL must prefer.
#}
{% macro demo_resend_player_rounds_sql(shape) -%}
    {%- set corrected = demo_draw(shape.seed, 'corrected', 'round_id', 'player_name') ~ ' % 3 = 0' -%}
    insert into {{ shape.db }}.`player_rounds`
    (
        round_id, player_name, server_guid, map_name, round_start_time, round_end_time,
        final_score, final_kills, final_deaths, play_time_minutes, team_label, game_id, is_bot,
        created_at, game, average_ping
    )
    select
        round_id,
        player_name,
        server_guid,
        map_name,
        round_start_time,
        round_end_time,
        if({{ corrected }}, final_score + 2, final_score),
        if({{ corrected }}, final_kills + 1, final_kills),
        final_deaths,
        play_time_minutes,
        team_label,
        game_id,
        is_bot,
        created_at + toIntervalSecond(60 + {{ demo_draw(shape.seed, 'resent-after', 'round_id', 'player_name') }} % 600),
        game,
        average_ping
    from {{ shape.db }}.`player_rounds`
    where {{ demo_draw(shape.seed, 'resent', 'round_id', 'player_name') }} % 1000 < 30
    settings max_partitions_per_insert_block = 0
{%- endmacro %}
