-- A player's rounds in the milestone order, each with the kills before and after it, so a
-- threshold t is reached by the one round with kills_before < t <= kills_after.
select
    player_name,
    round_id,
    round_start_time,
    round_end_time,
    final_kills,
    min(round_start_time) over (partition by player_name) as first_round_start_time,
    sum(toUInt64(final_kills)) over (
        partition by player_name
        order by round_end_time asc, round_start_time asc, round_id asc
        rows between unbounded preceding and current row
    ) as kills_after,
    kills_after - final_kills as kills_before
from {{ ref('int_counted_player_rounds') }}
