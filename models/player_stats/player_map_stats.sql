with totals as (
    select
        player_name,
        map_name,
        server_guid,
        -- 1 on the cross-server rows of the second grouping set, whose server_guid is not grouped.
        grouping(server_guid) as all_servers,
        count() as rounds,
        sum(final_kills) as kills,
        sum(final_deaths) as deaths,
        sum(final_score) as score,
        {{ exact_sum('play_time_minutes') }} as minutes
    from {{ ref('int_counted_player_rounds') }}
    group by grouping sets ((player_name, map_name, server_guid), (player_name, map_name))
)

select
    player_name,
    map_name,
    toString(if(all_servers = 1, '', server_guid)) as server_guid,
    toUInt64(rounds) as total_rounds,
    toUInt64(kills) as total_kills,
    toUInt64(deaths) as total_deaths,
    toInt64(score) as total_score,
    toFloat64(minutes) as total_play_time_minutes,
    {{ as_of() }} as updated_at
from totals
