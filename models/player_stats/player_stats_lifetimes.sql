with totals as (
    select
        player_name,
        count() as rounds,
        sum(final_kills) as kills,
        sum(final_deaths) as deaths,
        sum(final_score) as score,
        {{ exact_sum('play_time_minutes') }} as minutes,
        min(round_start_time) as first_start,
        max(round_end_time) as last_end
    from {{ ref('int_counted_player_rounds') }}
    group by player_name
)

select
    player_name,
    toUInt64(rounds) as total_rounds,
    toUInt64(kills) as total_kills,
    toUInt64(deaths) as total_deaths,
    toInt64(score) as total_score,
    toFloat64(minutes) as total_play_time_minutes,
    toFloat64(score / rounds) as avg_score_per_round,
    -- No deaths: the ratio is the kill count itself (the API's rule), not infinity.
    toFloat64(if(deaths = 0, kills, round(kills / deaths, 3))) as kd_ratio,
    toFloat64(if(minutes = 0, 0, round(kills / minutes, 3))) as kill_rate,
    toDateTime(first_start, 'UTC') as first_round_time,
    toDateTime(last_end, 'UTC') as last_round_time,
    {{ as_of() }} as updated_at
from totals
