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

best as (
    -- The three best rounds of each player and period, kept while aggregating (three tuples per
    -- group) instead of sorting every round: the tuple's order is the ranking, final_score
    -- desc, round_end_time asc, round_id asc, and round_id settles every tie (a player plays a
    -- round once).
    select
        player_name,
        period,
        -- noqa: disable=LT01
        groupArraySorted(3)(
            (
                -toInt64(final_score),
                round_end_time,
                round_id,
                final_kills,
                final_deaths,
                map_name,
                server_guid
            )
        ) as rounds
        -- noqa: enable=LT01
    from scored_rounds
    group by player_name, period
)

select
    player_name,
    cast(period as Enum8('all_time' = 1, 'last_30_days' = 2, 'this_week' = 3)) as period,
    -- `rank` is the API's column name, not the window function.
    toUInt8(place) as rank,  -- noqa: RF04
    toInt32(-best_round.1) as final_score,
    toUInt32(best_round.4) as final_kills,
    toUInt32(best_round.5) as final_deaths,
    best_round.6 as map_name,
    best_round.7 as server_guid,
    toDateTime(best_round.2, 'UTC') as round_end_time,
    best_round.3 as round_id
from best
array join
    rounds as best_round,
    arrayEnumerate(rounds) as place
