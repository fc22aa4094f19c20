-- The rounds every player aggregate counts: humans only, finished before the snapshot.
select
    round_id,
    player_name,
    server_guid,
    map_name,
    round_start_time,
    round_end_time,
    final_score,
    final_kills,
    final_deaths,
    play_time_minutes
from {{ ref('stg_player_rounds') }}
where
    is_bot = 0
    and round_end_time < {{ as_of() }}
