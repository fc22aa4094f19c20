-- Each player and map has exactly one cross-server row (server_guid = ''), and its totals equal
-- the sums of the per-server rows; returns the player/map pairs where that fails.
select
    player_name,
    map_name
from {{ ref('player_map_stats') }}
group by player_name, map_name
having
    countIf(server_guid = '') != 1
    or countIf(server_guid != '') = 0
    or sumIf(total_rounds, server_guid != '') != sumIf(total_rounds, server_guid = '')
    or sumIf(total_kills, server_guid != '') != sumIf(total_kills, server_guid = '')
    or sumIf(total_deaths, server_guid != '') != sumIf(total_deaths, server_guid = '')
    or sumIf(total_score, server_guid != '') != sumIf(total_score, server_guid = '')
