with totals as (
    select
        player_name,
        server_guid,
        count() as rounds,
        sum(final_kills) as kills,
        sum(final_deaths) as deaths,
        sum(final_score) as score,
        {{ exact_sum('play_time_minutes') }} as minutes,
        -- The highest round: max score, then the earliest end, then the smallest round_id
        -- (argMin over the key (-score, end, round_id) picks exactly that round).
        argMin(
            (final_score, round_id, map_name, round_start_time),
            (-toInt64(final_score), round_end_time, round_id)
        ) as highest
    from {{ ref('int_counted_player_rounds') }}
    group by player_name, server_guid
)

select
    player_name,
    server_guid,
    toUInt64(rounds) as total_rounds,
    toUInt64(kills) as total_kills,
    toUInt64(deaths) as total_deaths,
    toInt64(score) as total_score,
    toFloat64(minutes) as total_play_time_minutes,
    toInt32(highest.1) as highest_score,
    -- The three are Nullable only because the API's columns are; every row has a highest round.
    toNullable(toString(highest.2)) as highest_score_round_id,
    toNullable(toString(highest.3)) as highest_score_map_name,
    toNullable(highest.4) as highest_score_time,
    {{ as_of() }} as updated_at
from totals
