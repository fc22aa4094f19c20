with hours as (
    select
        server_guid,
        -- toDayOfWeek is 1 = Monday ... 7 = Sunday; the API wants 0 = Sunday ... 6 = Saturday.
        toDayOfWeek(hour_timestamp) % 7 as week_day,
        toHour(hour_timestamp) as clock_hour,
        avg_players as players
    from {{ ref('server_online_counts') }}
    where
        hour_timestamp >= {{ as_of() }} - interval 60 day
        and hour_timestamp < {{ as_of() }}
)

select
    server_guid,
    toUInt8(week_day) as day_of_week,
    toUInt8(clock_hour) as hour_of_day,
    {{ exact_avg('players') }} as avg_players,
    toFloat64(min(players)) as min_players,
    -- ClickHouse's parametric aggregates take (parameters)(arguments) with no space between.
    toFloat64(quantileExactInclusive(0.25)(players)) as q25_players,  -- noqa: LT01
    toFloat64(quantileExactInclusive(0.5)(players)) as median_players,  -- noqa: LT01
    toFloat64(quantileExactInclusive(0.75)(players)) as q75_players,  -- noqa: LT01
    toFloat64(quantileExactInclusive(0.9)(players)) as q90_players,  -- noqa: LT01
    toFloat64(max(players)) as max_players,
    toUInt64(count()) as data_points,
    {{ as_of() }} as updated_at
from hours
group by server_guid, week_day, clock_hour
