-- The benchmark's hand-written baseline: ServerOnlineCounts straight from the raw samples in one
-- query, as a one-off script would do it (same semantics as the dbt model server_online_counts).
select
    server_guid,
    formatDateTime(toStartOfHour(timestamp), '%Y-%m-%dT%H:%i:%SZ', 'UTC') as hour_timestamp,
    argMax(game, (timestamp, game)) as game,
    avg(players_online) as avg_players,
    max(players_online) as peak_players,
    count() as sample_count
from {source_database:Identifier}.server_online_counts final
where
    timestamp >= {as_of:DateTime('UTC')} - interval 180 day
    and timestamp < {as_of:DateTime('UTC')}
group by server_guid, toStartOfHour(timestamp)
-- In primary-key order, so SQLite's key index grows at its end (an unordered stream is ~20x slower).
order by server_guid, hour_timestamp
