with scored_rounds as (
    -- Every positive round once per period whose window contains its end.
    select
        player_name,
        final_score,
        final_kills,
        final_deaths,
        map_name,
        server_guid,
        round_end_time,
        round_id,
        arrayJoin(
            arrayConcat(
                ['all_time'],
                if(round_end_time >= {{ as_of() }} - interval 30 day, ['last_30_days'], []),
                -- The week starts on Monday 00:00 UTC (toMonday of a UTC DateTime is a UTC date).
                if(round_end_time >= toDateTime(toMonday({{ as_of() }}), 'UTC'), ['this_week'], [])
            )
        ) as period
    from {{ ref('int_counted_player_rounds') }}
    where final_score > 0
),

ranked as (
    select
        *,
        row_number() over (
            partition by player_name, period
            order by final_score desc, round_end_time asc, round_id asc
        ) as place
    from scored_rounds
)

select
    player_name,
    cast(period as Enum8('all_time' = 1, 'last_30_days' = 2, 'this_week' = 3)) as period,
    -- `rank` is the API's column name, not the window function.
    toUInt8(place) as rank,  -- noqa: RF04
    toInt32(final_score) as final_score,
    toUInt32(final_kills) as final_kills,
    toUInt32(final_deaths) as final_deaths,
    map_name,
    server_guid,
    toDateTime(round_end_time, 'UTC') as round_end_time,
    round_id
from ranked
where place <= 3
