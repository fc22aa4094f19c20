with game_hours as (
    -- Players of a game in one UTC hour: the sum over its servers' hourly averages.
    select
        hours.game as hour_game,
        hours.hour_timestamp,
        {{ exact_sum('hours.avg_players') }} as players
    from {{ ref('server_online_counts') }} as hours
    where
        hours.hour_timestamp >= {{ as_of() }} - interval 60 day
        and hours.hour_timestamp < {{ as_of() }}
        and hours.game in (select forecast.game from {{ ref('prediction_games') }} as forecast)
    group by hour_game, hours.hour_timestamp
),

slots as (
    -- The mean over the dates that have data in that weekday and hour (absent dates are not zeros).
    select
        hour_game,
        -- toDayOfWeek is 1 = Monday ... 7 = Sunday; the API wants 0 = Sunday ... 6 = Saturday.
        toDayOfWeek(hour_timestamp) % 7 as week_day,
        toHour(hour_timestamp) as clock_hour,
        {{ exact_avg('players') }} as mean_players,
        count() as dates
    from game_hours
    group by hour_game, week_day, clock_hour
)

select
    toLowCardinality(hour_game) as game,
    toUInt8(week_day) as day_of_week,
    toUInt8(clock_hour) as hour_of_day,
    toFloat64(mean_players) as predicted_players,
    toUInt64(dates) as data_points,
    {{ as_of() }} as updated_at
from slots
