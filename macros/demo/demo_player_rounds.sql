{#
    Players get a heavy-tailed number of rounds (rank-based power law: median about 12, top
    players about 5 000, mean 76) and a skill, so that a few of them pass 100 000 kills. Each
    round a player joins is a slot on one of their usual servers (more servers for busier
    players) or, one time in ten, anywhere. A round is a (server, slot) pair: every player who
    picked it shares its round_id, map, start and end.
#}
{% macro demo_insert_player_rounds_sql(shape) -%}
    {%- set seed, size, vocab = shape.seed, shape.size, shape.vocab -%}
    {%- set games = demo_game_arrays(vocab) -%}
    insert into {{ shape.db }}.`player_rounds`
    (
        round_id, player_name, server_guid, map_name, round_start_time, round_end_time,
        final_score, final_kills, final_deaths, play_time_minutes, team_label, game_id, is_bot,
        created_at, game, average_ping
    )
    with
    players as (
        select
            number as player_index,
            (number + 0.5) / {{ size.players }} as activity_rank,
            -- n(x) = A (x + b)^-a over the activity rank x in (0, 1), fitted so that 50 k players
            -- give a median of 12 rounds, about 5 000 for the busiest and 3.8 M rows in all
            greatest(1, toUInt32(round(
                4.733 * pow(activity_rank + 0.0071972, -1.42)
                * (0.8 + 0.4 * {{ demo_unit(seed, 'activity', 'number') }})
            ))) as planned_rounds,
            least({{ size.servers }}, 1 + intDiv(planned_rounds, 30)) as home_servers,
            {{ demo_draw(seed, 'home', 'number') }} % {{ size.servers }} as home_server,
            -- mostly a handful of kills per half hour, a few aces near 30
            2 + 28 * pow({{ demo_unit(seed, 'skill', 'number') }}, 3) as kills_per_half_hour,
            4 + 8 * {{ demo_unit(seed, 'caution', 'number') }} as deaths_per_half_hour,
            toUInt8(number % 40 = 25) as is_bot,
            if(
                is_bot = 1,
                concat(
                    'BOT_', {{ demo_pick(vocab.bot_names, demo_draw(seed, 'bot-name', 'number')) }},
                    '_', toString(number)
                ),
                trimLeft(concat(
                    {{ demo_pick(vocab.clan_tags, demo_draw(seed, 'clan', 'number')) }}, ' ',
                    {{ demo_pick(vocab.name_stems, demo_draw(seed, 'stem', 'number')) }},
                    {{ demo_pick(vocab.name_separators, demo_draw(seed, 'separator', 'number')) }},
                    toString(number)
                ))
            ) as player_name
        from numbers({{ size.players }})
    ),

    picks as (
        -- distinct: a player picking the same round twice plays it once
        select distinct
            player_index,
            player_name,
            is_bot,
            kills_per_half_hour,
            deaths_per_half_hour,
            if(
                {{ demo_unit(seed, 'away', 'player_index', 'pick_number') }} < 0.1,
                {{ demo_draw(seed, 'away-server', 'player_index', 'pick_number') }} % {{ size.servers }},
                (home_server + {{ demo_draw(seed, 'home-server', 'player_index', 'pick_number') }} % home_servers)
                % {{ size.servers }}
            ) as server_index,
            {{ demo_draw(seed, 'slot', 'player_index', 'pick_number') }} % {{ size.rounds_per_server }} as round_slot
        from players
        array join range(planned_rounds) as pick_number
    )

    select
        lower(leftPad(hex(cityHash64(server_guid, map, round_start)), 16, '0')),
        player_name,
        server_guid,
        map,
        round_start,
        round_end,
        score,
        kills,
        deaths,
        minutes_played,
        team,
        game_mode,
        is_bot,
        reported_at,
        game,
        ping
    from (
        select
            picks.player_name as player_name,
            picks.is_bot as is_bot,
            servers.server_guid as server_guid,
            servers.game as game,
            {{ demo_map_sql(games, 'servers.game_index',
                demo_draw(seed, 'round-map', 'picks.server_index', 'picks.round_slot')) }} as map,
            least(
                {{ size.round_slot_seconds }},
                900 + {{ demo_draw(seed, 'round-length', 'picks.server_index', 'picks.round_slot') }} % 2701
            ) as round_seconds,
            toDateTime(
                servers.span_start + picks.round_slot * {{ size.round_slot_seconds }}
                + toUInt32(
                    {{ demo_unit(seed, 'round-start', 'picks.server_index', 'picks.round_slot') }}
                    * ({{ size.round_slot_seconds }} - round_seconds)
                ),
                'UTC'
            ) as round_start,
            round_start + round_seconds as round_end,
            {{ demo_pick(vocab.game_modes, demo_draw(seed, 'mode', 'picks.server_index', 'picks.round_slot')) }}
                as game_mode,
            round(
                round_seconds / 60 * if(
                    {{ demo_seat_unit(seed, 'stayed') }}
                    < 0.65,
                    1.0,
                    0.1 + 0.9 * {{ demo_seat_unit(seed, 'joined') }}
                ),
                2
            ) as minutes_played,
            toUInt32(floor(
                picks.kills_per_half_hour * minutes_played / 30
                * 2 * {{ demo_seat_unit(seed, 'kills') }}
                + {{ demo_seat_unit(seed, 'kills-rounding') }}
            )) as kills,
            toUInt32(floor(
                picks.deaths_per_half_hour * minutes_played / 30
                * 2 * {{ demo_seat_unit(seed, 'deaths') }}
                + {{ demo_seat_unit(seed, 'deaths-rounding') }}
            )) as deaths,
            -- a few team killers end below zero
            toInt32(if(
                {{ demo_seat_unit(seed, 'teamkiller') }}
                < 0.03,
                -1 - toInt64({{ demo_seat_draw(seed, 'penalty') }} % 40),
                2 * kills
                + toInt64({{ demo_seat_draw(seed, 'bonus') }} % 12)
            )) as score,
            {{ games.teams }}[
                2 * servers.game_index - 1
                + {{ demo_seat_draw(seed, 'team') }} % 2
            ] as team,
            round_end + toIntervalSecond(
                5 + {{ demo_seat_draw(seed, 'reported') }} % 115
            ) as reported_at,
            if(
                {{ demo_seat_unit(seed, 'no-ping') }} < 0.05,
                null,
                round(
                    15 + 235 * pow({{ demo_seat_unit(seed, 'ping') }}, 2),
                    1
                )
            ) as ping
        from picks
        inner join ({{ demo_servers_sql(shape) }}) as servers
            on picks.server_index = servers.server_index
    )
    settings max_partitions_per_insert_block = 0
{%- endmacro %}


{# Draws for one player's seat in one round. #}
{% macro demo_seat_unit(seed, label) -%}
    {{ demo_unit(seed, label, 'picks.player_index', 'picks.server_index', 'picks.round_slot') }}
{%- endmacro %}

{% macro demo_seat_draw(seed, label) -%}
    {{ demo_draw(seed, label, 'picks.player_index', 'picks.server_index', 'picks.round_slot') }}
{%- endmacro %}
