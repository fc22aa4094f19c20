with hours as (
    select
        server_guid,
        toStartOfHour(timestamp) as hour_start,
        -- The game of the latest sample; two samples at that instant: the greater game string.
        argMax(game, (timestamp, game)) as hour_game,
        avg(players_online) as mean_players,
        max(players_online) as most_players,
        count() as samples
    from {{ ref('int_server_samples_in_window') }}
    -- Every row when the table is built whole; one range of servers when built in parts.
    where {{ build_part_filter('server_guid') }}
    group by server_guid, hour_start
)

select
    server_guid,
    toDateTime(hour_start, 'UTC') as hour_timestamp,
    toLowCardinality(hour_game) as game,
    toFloat64(mean_players) as avg_players,
    toUInt16(most_players) as peak_players,
    toUInt64(samples) as sample_count
from hours
