-- A milestone row is reached with at least its threshold of kills, no sooner than the player's
-- first round and no later than the player's last; returns the rows that break this.
select
    milestones.player_name,
    milestones.milestone
from {{ ref('player_milestones') }} as milestones
inner join {{ ref('player_stats_lifetimes') }} as lifetimes
    on milestones.player_name = lifetimes.player_name
where
    milestones.total_kills_at_milestone < milestones.milestone
    or milestones.total_kills_at_milestone > lifetimes.total_kills
    or milestones.achieved_at < lifetimes.first_round_time
    or milestones.achieved_at > lifetimes.last_round_time
