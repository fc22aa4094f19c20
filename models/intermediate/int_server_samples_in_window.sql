-- The samples ServerOnlineCounts covers: the 180 days before the snapshot, start included.
select
    timestamp,
    server_guid,
    game,
    players_online
from {{ ref('stg_server_online_counts') }}
where
    timestamp >= {{ as_of() }} - interval 180 day
    and timestamp < {{ as_of() }}
