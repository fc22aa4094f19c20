select
    rounds.player_name,
    toUInt32(thresholds.milestone) as milestone,
    toDateTime(rounds.round_end_time, 'UTC') as achieved_at,
    toUInt64(rounds.kills_after) as total_kills_at_milestone,
    -- Calendar-day boundaries in UTC, not 24-hour periods.
    toInt64(dateDiff('day', rounds.first_round_start_time, rounds.round_end_time, 'UTC'))
        as days_to_achieve
from {{ ref('int_player_cumulative_kills') }} as rounds
-- Each threshold matches the single round that crosses it; one round may cross several.
cross join {{ ref('milestone_thresholds') }} as thresholds
where
    rounds.kills_before < thresholds.milestone
    and rounds.kills_after >= thresholds.milestone
