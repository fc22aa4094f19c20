{#
    The game's maps and teams live in flat constant arrays; a game's slice starts at its offset.
    Returns SQL array literals and offsets shared by both tables' generators.
#}
{% macro demo_game_arrays(vocab) %}
    {%- set names, maps, map_offsets, map_counts, teams = [], [], [], [], [] -%}
    {%- for game in vocab.games -%}
        {%- do names.append(game.name) -%}
        {%- do map_offsets.append(maps | length) -%}
        {%- do map_counts.append(game.maps | length) -%}
        {%- do maps.extend(game.maps) -%}
        {%- do teams.extend(game.teams) -%}
    {%- endfor -%}
    {{ return({
        'names': demo_array(names),
        'count': names | length,
        'maps': demo_array(maps),
        'map_offsets': '[' ~ map_offsets | join(', ') ~ ']',
        'map_counts': '[' ~ map_counts | join(', ') ~ ']',
        'teams': demo_array(teams),
    }) }}
{% endmacro %}


{# The map a server of `game_index` plays, drawn by `draw` (a UInt64 expression). #}
{% macro demo_map_sql(games, game_index, draw) -%}
    {{ games.maps }}[
        1 + {{ games.map_offsets }}[{{ game_index }}] + ({{ draw }}) % {{ games.map_counts }}[{{ game_index }}]
    ]
{%- endmacro %}


{#
    One row per server: identity, game, capacity, popularity, time zone and the window in which it
    is online (a few start late or shut down early, so not every server has every hour).
#}
{% macro demo_servers_sql(shape) -%}
    {%- set seed, size, vocab = shape.seed, shape.size, shape.vocab -%}
    {%- set games = demo_game_arrays(vocab) -%}
    {%- set shares = vocab.games | map(attribute='share') | list -%}
    {#- game i when game_draw falls below the sum of the first i shares -#}
    {%- set game_branches = [] -%}
    {%- for share in shares[:-1] -%}
        {%- do game_branches.append(
            'game_draw < ' ~ (shares[:loop.index] | sum | round(6)) ~ ', toUInt8(' ~ loop.index ~ ')'
        ) -%}
    {%- endfor -%}
    select
        number as server_index,
        {{ demo_unit(seed, 'server-game', 'number') }} as game_draw,
        -- the first servers take each named game in turn, so even tiny scales have all three
        if(
            number < {{ games.count - 1 }},
            toUInt8(number + 1),
            multiIf({{ game_branches | join(', ') }}, toUInt8({{ games.count }}))
        ) as game_index,
        {{ games.names }}[game_index] as game,
        lower(concat(
            leftPad(hex({{ demo_draw(seed, 'guid-high', 'number') }}), 16, '0'),
            leftPad(hex({{ demo_draw(seed, 'guid-low', 'number') }}), 16, '0')
        )) as guid_hex,
        concat(
            substring(guid_hex, 1, 8), '-', substring(guid_hex, 9, 4), '-',
            substring(guid_hex, 13, 4), '-', substring(guid_hex, 17, 4), '-', substring(guid_hex, 21, 12)
        ) as server_guid,
        trimLeft(concat(
            {{ demo_pick(vocab.clan_tags, demo_draw(seed, 'server-tag', 'number')) }}, ' ',
            {{ demo_pick(vocab.server_words, demo_draw(seed, 'server-words', 'number')) }},
            ' #', toString(number + 1)
        )) as server_name,
        [16, 24, 32, 48, 64][1 + {{ demo_draw(seed, 'capacity', 'number') }} % 5] as capacity,
        0.1 + 0.9 * pow({{ demo_unit(seed, 'popularity', 'number') }}, 1.5) as popularity,
        toInt32({{ demo_draw(seed, 'utc-offset', 'number') }} % 12) - 8 as utc_offset,
        {{ demo_unit(seed, 'lifecycle', 'number') }} as lifecycle,
        {{ shape.end_epoch }} - {{ size.span_seconds }} as span_start,
        if(
            lifecycle < 0.02,
            span_start + toUInt32({{ demo_unit(seed, 'opened', 'number') }} * 0.8 * {{ size.span_seconds }}),
            span_start
        ) as active_from,
        if(
            lifecycle >= 0.02 and lifecycle < 0.04,
            {{ shape.end_epoch }} - toUInt32({{ demo_unit(seed, 'closed', 'number') }} * 0.5 * {{ size.span_seconds }}),
            {{ shape.end_epoch }}
        ) as active_until
    from numbers({{ size.servers }})
{%- endmacro %}


{#
    One sample per server every cadence, ending at end_time. Players online follow the server's
    popularity, a daily curve in its own time zone (peak 21:00), weekends, a weekly trend and
    hourly noise; a sample that rounds to nobody online is not written.
#}
{% macro demo_insert_server_samples_sql(shape, first_sample, end_sample) -%}
    {%- set seed, size = shape.seed, shape.size -%}
    {%- set games = demo_game_arrays(shape.vocab) -%}
    insert into {{ shape.db }}.`server_online_counts`
    (`timestamp`, server_guid, server_name, map_name, game, players_online)
    select
        sample_time,
        servers.server_guid,
        servers.server_name,
        {{ demo_map_sql(games, 'servers.game_index',
            demo_draw(seed, 'server-map', 'samples.server_index', 'intDiv(sample_epoch, 1800)')) }} as map_name,
        servers.game,
        toUInt16(least(servers.capacity, floor(
            servers.capacity * servers.popularity
            * (0.55 + 0.45 * cos(2 * pi() * ((toHour(sample_time) + 24 + servers.utc_offset) % 24 - 21) / 24))
            * if(toDayOfWeek(sample_time) >= 6, 1.15, 1.0)
            * (0.8 + 0.4 * {{ demo_unit(seed, 'week-trend', 'samples.server_index', 'intDiv(sample_epoch, 604800)') }})
            * (0.75 + 0.5 * {{ demo_unit(seed, 'hour-noise', 'samples.server_index', 'intDiv(sample_epoch, 3600)') }})
            * (0.9 + 0.2 * {{ demo_unit(seed, 'sample-noise', 'samples.server_index', 'samples.sample_index') }})
            -- random rounding: a quiet server still shows someone now and then
            + {{ demo_unit(seed, 'rounding', 'samples.server_index', 'samples.sample_index') }}
        ))) as online
    from (
        select
            intDiv(number, {{ end_sample - first_sample }}) as server_index,
            {{ first_sample }} + number % {{ end_sample - first_sample }} as sample_index,
            {{ shape.end_epoch }}
            - ({{ size.samples_per_server - 1 }} - sample_index) * {{ size.cadence_seconds }} as sample_epoch,
            toDateTime(sample_epoch, 'UTC') as sample_time
        from numbers_mt({{ size.servers * (end_sample - first_sample) }})
    ) as samples
    inner join ({{ demo_servers_sql(shape) }}) as servers
        on samples.server_index = servers.server_index
    where
        online > 0
        and samples.sample_epoch >= servers.active_from
        and samples.sample_epoch <= servers.active_until
    settings max_partitions_per_insert_block = 0
{%- endmacro %}
