-- FINAL keeps one sample per (server_guid, timestamp, game) however often it was re-sent.
select
    timestamp,
    server_guid,
    server_name,
    map_name,
    game,
    players_online
from {{ source('raw', 'server_online_counts') }} final
