-- FINAL merges re-sent versions at read time: the newest created_at of each
-- (player_name, server_guid, round_start_time, round_id) wins and is counted once.
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
    play_time_minutes,
    team_label,
    game_id,
    is_bot,
    created_at,
    game,
    average_ping
from {{ source('raw', 'player_rounds') }} final
