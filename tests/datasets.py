"""A small hand-built dataset whose every mart row is known in advance.

`load_raw(session, database)` writes the raw rows into `database`; `EXPECTED[model]` lists every
row each mart must hold after `dbt build` with vars `source_database=database, as_of=AS_OF`
(model column names, instants as `YYYY-MM-DDTHH:MM:SSZ`, `period` as its name). Each case the
SPEC calls out has its own rows, named in the comments; the arithmetic is written next to the
expected values where it is not obvious.

Calendar facts used throughout (2024 is a leap year):
- as_of = Wednesday 2024-03-13 12:00:00 UTC.
- this_week starts Monday 2024-03-11 00:00:00; last_30_days starts 2024-02-12 12:00:00.
- the 60-day window starts Saturday 2024-01-13 12:00:00; the 180-day window Friday 2023-09-15
  12:00:00 (15 + 31 + 30 + 31 + 31 + 29 + 13 = 180 days).
- Mondays: 02-19, 02-26, 03-04, 03-11; Tuesdays: 02-13, 02-20, 02-27, 03-05, 03-12.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime, timedelta

AS_OF = "2024-03-13 12:00:00"
AS_OF_ISO = "2024-03-13T12:00:00Z"

# Names chosen to break naive quoting: quotes of both kinds, a backslash and emoji; and ''.
QUOTED_PLAYER = 'O\'Brien "The 🎯" \\m/ 🔥'
EMPTY_PLAYER = ""
BOT_PLAYER = "[BOT] Sarge"


@dataclass(frozen=True)
class Round:
    """One player_rounds row; created_at defaults to a minute after the round's end."""

    round_id: str
    player_name: str
    server_guid: str
    map_name: str
    round_start_time: str
    round_end_time: str
    final_score: int
    final_kills: int
    final_deaths: int
    play_time_minutes: float  # minutes; ints allowed for brevity
    team_label: str = "axis"
    game_id: str = "conquest"
    is_bot: int = 0
    created_at: str = ""
    game: str = "bf1942"
    average_ping: float | None = 48.5

    def __post_init__(self):
        # Instants may be written without seconds; ClickHouse gets 'YYYY-MM-DD HH:MM:SS'.
        for name in ("round_start_time", "round_end_time", "created_at"):
            if getattr(self, name):
                object.__setattr__(self, name, str(datetime.fromisoformat(getattr(self, name))))
        if not self.created_at:
            end = datetime.fromisoformat(self.round_end_time)
            object.__setattr__(self, "created_at", str(end + timedelta(minutes=1)))


@dataclass(frozen=True)
class Sample:
    """One server_online_counts row."""

    timestamp: str
    server_guid: str
    server_name: str
    map_name: str
    game: str
    players_online: int


ROUND_TYPES = {
    "round_id": "String",
    "player_name": "String",
    "server_guid": "String",
    "map_name": "String",
    "round_start_time": "DateTime('UTC')",
    "round_end_time": "DateTime('UTC')",
    "final_score": "Int32",
    "final_kills": "UInt32",
    "final_deaths": "UInt32",
    "play_time_minutes": "Float64",
    "team_label": "String",
    "game_id": "String",
    "is_bot": "UInt8",
    "created_at": "DateTime('UTC')",
    "game": "String",
    "average_ping": "Nullable(Float64)",
}
SAMPLE_TYPES = {
    "timestamp": "DateTime('UTC')",
    "server_guid": "String",
    "server_name": "String",
    "map_name": "String",
    "game": "String",
    "players_online": "UInt16",
}


def _sample(timestamp: str, server_guid: str, game: str, players: int) -> Sample:
    return Sample(timestamp, server_guid, f"{server_guid} public", "wake", game, players)


# --- player_rounds ------------------------------------------------------------------------------
# Columns: round_id, player_name, server_guid, map_name, round_start_time, round_end_time,
# final_score, final_kills, final_deaths, play_time_minutes (then keyword-only extras).

# fmt: off
# alice: the dedup cases, highest-score ties, a bot row and a round ending exactly at as_of.
ALICE = [
    # a-1 is re-sent below with a newer created_at: the newer version (60 / 6 kills) must win.
    Round("a-1", "alice", "srv-1", "wake", "2024-02-01 10:00", "2024-02-01 10:30", 50, 5, 1, 30),
    # a-2 is re-sent below with an OLDER created_at and score 999: this version must win.
    Round("a-2", "alice", "srv-1", "wake", "2024-02-02 10:00", "2024-02-02 10:30", 300, 2, 2, 30,
          created_at="2024-02-02 10:45"),
    # Same score as a-2 on srv-1 but an earlier end: the highest round although 'a-3' > 'a-2'.
    Round("a-3", "alice", "srv-1", "berlin", "2024-01-20 10:00", "2024-01-20 10:30", 300, 3, 0, 20,
          average_ping=None),
    # Same score and end on srv-2: the smaller round_id 'a-w' is the highest round.
    Round("a-x", "alice", "srv-2", "wake", "2024-03-01 10:00", "2024-03-01 10:30", 200, 1, 0, 10),
    Round("a-w", "alice", "srv-2", "berlin", "2024-03-01 10:05", "2024-03-01 10:30", 200, 0, 4, 25),
    # A bot row under a human's name: excluded from every aggregate.
    Round("a-bot", "alice", "srv-1", "wake", "2024-03-12 10:00", "2024-03-12 10:30", 9999, 500, 0,
          30, is_bot=1),
    # Ends exactly at as_of: not counted (round_end_time < as_of).
    Round("a-late", "alice", "srv-2", "wake", "2024-03-13 11:30", "2024-03-13 12:00", 800, 40, 1,
          30),
]
ALICE_RESENT = [
    Round("a-1", "alice", "srv-1", "wake", "2024-02-01 10:00", "2024-02-01 10:30", 60, 6, 1, 30,
          created_at="2024-02-01 10:40"),
    Round("a-2", "alice", "srv-1", "wake", "2024-02-02 10:00", "2024-02-02 10:30", 999, 50, 0, 30,
          created_at="2024-02-02 10:31"),
]

# bella: best scores across the three periods, their edges and ties.
BELLA = [
    Round("b-1", "bella", "srv-1", "wake", "2024-01-05 09:30", "2024-01-05 10:00", 500, 10, 5, 30),
    # Ties b-1 on score, ends earlier: ranks above it (and is srv-1's highest round).
    Round("b-2", "bella", "srv-1", "wake", "2024-01-03 09:30", "2024-01-03 10:00", 500, 8, 4, 30),
    # Ends on Monday 00:00:00 exactly: inside this_week.
    Round("b-3", "bella", "srv-2", "berlin", "2024-03-10 23:30", "2024-03-11 00:00", 400, 6, 2, 30),
    # Ends on Sunday 23:59:59: outside this_week; ties b-3 in last_30_days and ends earlier.
    Round("b-4", "bella", "srv-1", "berlin", "2024-03-10 23:29:59", "2024-03-10 23:59:59", 400, 4,
          4, 30),
    # Ends exactly at as_of - 30 days: inside last_30_days.
    Round("b-5", "bella", "srv-2", "wake", "2024-02-12 11:30", "2024-02-12 12:00", 450, 9, 3, 30),
    # One second earlier: outside last_30_days, still the all-time best.
    Round("b-6", "bella", "srv-2", "wake", "2024-02-12 11:29:59", "2024-02-12 11:59:59", 900, 20,
          1, 30),
    # Same score and end: 'b-7a' ranks above 'b-7z'.
    Round("b-7z", "bella", "srv-1", "wake", "2024-03-12 08:30", "2024-03-12 09:00", 350, 5, 5, 30),
    Round("b-7a", "bella", "srv-2", "wake", "2024-03-12 08:30", "2024-03-12 09:00", 350, 3, 3, 30),
    # Zero and negative scores never rank.
    Round("b-9", "bella", "srv-1", "wake", "2024-03-01 09:00", "2024-03-01 09:30", 0, 0, 2, 30),
    Round("b-10", "bella", "srv-1", "wake", "2024-03-02 09:00", "2024-03-02 09:30", -50, 0, 6, 30),
    # Would be the best of every period, but ends exactly at as_of.
    Round("b-11", "bella", "srv-2", "wake", "2024-03-13 11:30", "2024-03-13 12:00", 1000, 30, 0,
          30),
]

# mike: milestones. Cumulative kills in (end, start, round_id) order:
# m-1 5 000 | m-2 21 000 | m-4 50 000 | m-3 51 000 | m-5a 75 000 | m-5b 75 500.
MIKE = [
    # Reaches 5 000 exactly (>=); 1.5 hours after the first start but one UTC day boundary.
    Round("m-1", "mike", "srv-1", "wake", "2024-01-01 23:00", "2024-01-02 00:30", 0, 5000, 10, 90),
    # 5 000 -> 21 000 crosses 10 000 and 20 000 in one round: two rows.
    Round("m-2", "mike", "srv-1", "wake", "2024-02-01 10:00", "2024-02-01 11:00", 0, 16000, 10, 60),
    # m-4 and m-3 end together; m-4 starts first so it is counted first although 'm-3' < 'm-4':
    # 21 000 + 29 000 = 50 000 reaches 50 000 in m-4 (the other order would give 51 000).
    Round("m-4", "mike", "srv-1", "wake", "2024-03-01 11:00", "2024-03-01 12:00", 0, 29000, 10, 60),
    Round("m-3", "mike", "srv-1", "wake", "2024-03-01 11:30", "2024-03-01 12:00", 0, 1000, 10, 30),
    # Same start and end: round_id decides, 'm-5a' first: 51 000 + 24 000 = 75 000.
    Round("m-5a", "mike", "srv-1", "wake", "2024-03-05 10:00", "2024-03-05 11:00", 0, 24000, 10,
          60),
    Round("m-5b", "mike", "srv-1", "wake", "2024-03-05 10:00", "2024-03-05 11:00", 0, 500, 10, 60),
    # Either of these would reach 100 000 (and the bot would move the first start).
    Round("m-late", "mike", "srv-1", "wake", "2024-03-13 11:00", "2024-03-13 12:00", 0, 30000, 10,
          60),
    Round("m-bot", "mike", "srv-1", "wake", "2023-12-30 10:00", "2023-12-30 11:00", 10, 100000, 0,
          60, is_bot=1),
]

OTHERS = [
    # KdRatio with zero deaths = kills; KillRate with zero minutes = 0.
    Round("z-1", "zed", "srv-2", "berlin", "2024-03-08 10:00", "2024-03-08 10:20", 70, 7, 0, 0,
          game="fh2"),
    Round("q-1", QUOTED_PLAYER, "srv-1", "wake", "2024-03-12 20:00", "2024-03-12 20:30", 42, 4, 3,
          30.5),
    Round("e-1", EMPTY_PLAYER, "srv-2", "wake", "2024-03-09 10:00", "2024-03-09 10:30", -10, 1, 2,
          15),
    # A bot with the best scores of all: no row anywhere.
    Round("bot-1", BOT_PLAYER, "srv-1", "wake", "2024-03-12 10:00", "2024-03-12 10:30", 5000, 100,
          0, 30, is_bot=1),
]
# fmt: on

# Each inner list is one INSERT; the re-sent versions come in a later one, so both versions sit
# in separate parts until a merge and only FINAL hides the stale one.
ROUND_INSERTS = [ALICE + BELLA + MIKE + OTHERS, ALICE_RESENT]

# --- server_online_counts -----------------------------------------------------------------------

SAMPLES = [
    # 180-day edge: 12:00:00 counts, 11:59:59 does not (so hour 11:00 has no row).
    _sample("2023-09-15 11:59:59", "srv-1", "bf1942", 50),
    _sample("2023-09-15 12:00:00", "srv-1", "bf1942", 2),
    # 60-day edge on HourTimestamp: 2024-01-13 11:00 is in ServerOnlineCounts, not in the
    # patterns or predictions; 12:00 is in all three. The next Saturday keeps both slots alive.
    _sample("2024-01-13 11:15:00", "srv-1", "bf1942", 13),
    _sample("2024-01-13 12:15:00", "srv-1", "bf1942", 11),
    _sample("2024-01-20 11:15:00", "srv-1", "bf1942", 15),
    _sample("2024-01-20 12:15:00", "srv-1", "bf1942", 17),
    # Tuesdays 08:00: five hourly values 5, 1, 3, 9, 7 (odd count percentiles).
    _sample("2024-02-13 08:15:00", "srv-1", "bf1942", 5),
    _sample("2024-02-20 08:15:00", "srv-1", "bf1942", 1),
    _sample("2024-02-27 08:15:00", "srv-1", "bf1942", 3),
    _sample("2024-03-05 08:15:00", "srv-1", "bf1942", 9),
    _sample("2024-03-12 08:15:00", "srv-1", "bf1942", 7),
    # Mondays 20:00: four hourly values 40, 10, 80, 20 (even count percentiles).
    _sample("2024-02-19 20:15:00", "srv-1", "bf1942", 40),
    _sample("2024-02-26 20:15:00", "srv-1", "bf1942", 10),
    _sample("2024-03-04 20:15:00", "srv-1", "bf1942", 80),
    _sample("2024-03-11 20:15:00", "srv-1", "bf1942", 20),
    # One hour, several samples; 14:30 and 14:45 are re-sent below.
    _sample("2024-03-04 14:00:00", "srv-1", "bf1942", 3),
    _sample("2024-03-04 14:30:00", "srv-1", "bf1942", 9),
    _sample("2024-03-04 14:45:00", "srv-1", "bf1942", 6),
    # Two games at the hour's latest instant (09:50): the greater string, fh2, is the game.
    _sample("2024-03-05 09:10:00", "srv-1", "bf1942", 5),
    _sample("2024-03-05 09:50:00", "srv-1", "bf1942", 7),
    _sample("2024-03-05 09:50:00", "srv-1", "fh2", 9),
    # The latest sample's game wins over the greater string: bf1942.
    _sample("2024-03-06 09:10:00", "srv-1", "fh2", 4),
    _sample("2024-03-06 09:40:00", "srv-1", "bf1942", 2),
    # A Sunday: day_of_week 0.
    _sample("2024-03-10 15:15:00", "srv-1", "bf1942", 4),
    # as_of edge: 11:59:59 counts, 12:00:00 does not.
    _sample("2024-03-13 11:59:59", "srv-1", "bf1942", 5),
    _sample("2024-03-13 12:00:00", "srv-1", "bf1942", 99),
    # srv-2 runs fh2: summed with srv-1's fh2 hour on 2024-03-05 09:00 for the predictions.
    _sample("2024-03-05 09:20:00", "srv-2", "fh2", 1),
    _sample("2024-03-12 08:20:00", "srv-2", "fh2", 3),
    _sample("2024-03-12 09:20:00", "srv-2", "fh2", 4),
    # A game outside the prediction seed, in the same hour as two bf1942 servers.
    _sample("2024-03-11 20:10:00", "srv-3", "unknown", 30),
    # A second bf1942 server in that hour: summed with srv-1 (20 + 6) for the predictions.
    _sample("2024-03-11 20:40:00", "srv-4", "bf1942", 6),
]
# Re-sent in a later INSERT: 14:30 unchanged (must count once) and 14:45 with a new value.
# The table has no version column, so the last inserted row wins: 12, not 6.
SAMPLES_RESENT = [
    _sample("2024-03-04 14:30:00", "srv-1", "bf1942", 9),
    _sample("2024-03-04 14:45:00", "srv-1", "bf1942", 12),
]
SAMPLE_INSERTS = [SAMPLES, SAMPLES_RESENT]


# --- loading ------------------------------------------------------------------------------------


def _quote_identifier(name: str) -> str:
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def _param_text(value) -> str:
    """ClickHouse reads query parameters as TSV-escaped text; None is \\N."""
    if value is None:
        return "\\N"
    return str(value).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def _insert(session, database: str, table: str, types: dict[str, str], rows: list) -> None:
    """One INSERT of all `rows`, every value a typed query parameter."""
    selects, params = [], {}
    for index, row in enumerate(rows):
        placeholders = []
        for field in fields(row):
            name = f"{field.name}_{index}"
            placeholders.append(f"{{{name}:{types[field.name]}}}")
            params[name] = _param_text(getattr(row, field.name))
        selects.append("select " + ", ".join(placeholders))
    columns = ", ".join(_quote_identifier(name) for name in types)
    target = f"{_quote_identifier(database)}.{_quote_identifier(table)}"
    session.query(f"insert into {target} ({columns}) " + " union all ".join(selects), params=params)


def load_raw(session, database: str) -> None:
    """Create the raw tables in `database` (empty) and insert the dataset, one INSERT per batch."""
    from bfstats import dbt_invoke

    dbt_invoke.run_operation("create_raw_tables", {"database": database})
    for table in ("player_rounds", "server_online_counts"):
        session.query(f"truncate table {_quote_identifier(database)}.{_quote_identifier(table)}")
    for rows in ROUND_INSERTS:
        _insert(session, database, "player_rounds", ROUND_TYPES, rows)
    for rows in SAMPLE_INSERTS:
        _insert(session, database, "server_online_counts", SAMPLE_TYPES, rows)


# --- expected marts -----------------------------------------------------------------------------


def _hour(server, hour, game, avg, peak, count):
    return {
        "server_guid": server,
        "hour_timestamp": hour,
        "game": game,
        "avg_players": avg,
        "peak_players": peak,
        "sample_count": count,
    }


def _lifetime(player, rounds, kills, deaths, score, minutes, avg, kd, rate, first, last):
    return {
        "player_name": player,
        "total_rounds": rounds,
        "total_kills": kills,
        "total_deaths": deaths,
        "total_score": score,
        "total_play_time_minutes": minutes,
        "avg_score_per_round": avg,
        "kd_ratio": kd,
        "kill_rate": rate,
        "first_round_time": first,
        "last_round_time": last,
        "updated_at": AS_OF_ISO,
    }


def _on_server(
    player, server, rounds, kills, deaths, score, minutes, best, best_id, best_map, best_time
):
    return {
        "player_name": player,
        "server_guid": server,
        "total_rounds": rounds,
        "total_kills": kills,
        "total_deaths": deaths,
        "total_score": score,
        "total_play_time_minutes": minutes,
        "highest_score": best,
        "highest_score_round_id": best_id,
        "highest_score_map_name": best_map,
        "highest_score_time": best_time,
        "updated_at": AS_OF_ISO,
    }


def _on_map(player, map_name, server, rounds, kills, deaths, score, minutes):
    return {
        "player_name": player,
        "map_name": map_name,
        "server_guid": server,
        "total_rounds": rounds,
        "total_kills": kills,
        "total_deaths": deaths,
        "total_score": score,
        "total_play_time_minutes": minutes,
        "updated_at": AS_OF_ISO,
    }


def _milestone(player, milestone, achieved_at, kills, days):
    return {
        "player_name": player,
        "milestone": milestone,
        "achieved_at": achieved_at,
        "total_kills_at_milestone": kills,
        "days_to_achieve": days,
    }


ALL, D30, WEEK = "all_time", "last_30_days", "this_week"


def _best(player, period, rank, score, kills, deaths, map_name, server, end, round_id):
    return {
        "player_name": player,
        "period": period,
        "rank": rank,
        "final_score": score,
        "final_kills": kills,
        "final_deaths": deaths,
        "map_name": map_name,
        "server_guid": server,
        "round_end_time": end,
        "round_id": round_id,
    }


def _pattern(server, dow, hour, avg, low, q25, median, q75, q90, high, points):
    return {
        "server_guid": server,
        "day_of_week": dow,
        "hour_of_day": hour,
        "avg_players": avg,
        "min_players": low,
        "q25_players": q25,
        "median_players": median,
        "q75_players": q75,
        "q90_players": q90,
        "max_players": high,
        "data_points": points,
        "updated_at": AS_OF_ISO,
    }


def _single_value_pattern(server, dow, hour, value):
    return _pattern(server, dow, hour, value, value, value, value, value, value, value, 1)


def _prediction(game, dow, hour, players, points):
    return {
        "game": game,
        "day_of_week": dow,
        "hour_of_day": hour,
        "predicted_players": players,
        "data_points": points,
        "updated_at": AS_OF_ISO,
    }


# Counted rounds (deduplicated, non-bot, ended before as_of):
# alice  a-1' (60, 6k, 1d, 30m) a-2 (300, 2, 2, 30) a-3 (300, 3, 0, 20) a-x (200, 1, 0, 10)
#        a-w (200, 0, 4, 25)
# bella  b-1 .. b-10 (b-11 ended at as_of); mike m-1 .. m-5b; zed, QUOTED_PLAYER, EMPTY_PLAYER.
# fmt: off
EXPECTED: dict[str, list[dict]] = {
    # server, hour, game, avg_players, peak_players, sample_count
    "server_online_counts": [
        _hour("srv-1", "2023-09-15T12:00:00Z", "bf1942", 2.0, 2, 1),
        _hour("srv-1", "2024-01-13T11:00:00Z", "bf1942", 13.0, 13, 1),
        _hour("srv-1", "2024-01-13T12:00:00Z", "bf1942", 11.0, 11, 1),
        _hour("srv-1", "2024-01-20T11:00:00Z", "bf1942", 15.0, 15, 1),
        _hour("srv-1", "2024-01-20T12:00:00Z", "bf1942", 17.0, 17, 1),
        _hour("srv-1", "2024-02-13T08:00:00Z", "bf1942", 5.0, 5, 1),
        _hour("srv-1", "2024-02-19T20:00:00Z", "bf1942", 40.0, 40, 1),
        _hour("srv-1", "2024-02-20T08:00:00Z", "bf1942", 1.0, 1, 1),
        _hour("srv-1", "2024-02-26T20:00:00Z", "bf1942", 10.0, 10, 1),
        _hour("srv-1", "2024-02-27T08:00:00Z", "bf1942", 3.0, 3, 1),
        # 3, 9 (re-sent, once), 12 (re-sent value): (3 + 9 + 12) / 3 = 8.
        _hour("srv-1", "2024-03-04T14:00:00Z", "bf1942", 8.0, 12, 3),
        _hour("srv-1", "2024-03-04T20:00:00Z", "bf1942", 80.0, 80, 1),
        _hour("srv-1", "2024-03-05T08:00:00Z", "bf1942", 9.0, 9, 1),
        # (5 + 7 + 9) / 3 = 7; latest instant 09:50 holds bf1942 and fh2 -> fh2.
        _hour("srv-1", "2024-03-05T09:00:00Z", "fh2", 7.0, 9, 3),
        # (4 + 2) / 2 = 3; the latest sample (09:40) is bf1942.
        _hour("srv-1", "2024-03-06T09:00:00Z", "bf1942", 3.0, 4, 2),
        _hour("srv-1", "2024-03-10T15:00:00Z", "bf1942", 4.0, 4, 1),
        _hour("srv-1", "2024-03-11T20:00:00Z", "bf1942", 20.0, 20, 1),
        _hour("srv-1", "2024-03-12T08:00:00Z", "bf1942", 7.0, 7, 1),
        _hour("srv-1", "2024-03-13T11:00:00Z", "bf1942", 5.0, 5, 1),
        _hour("srv-2", "2024-03-05T09:00:00Z", "fh2", 1.0, 1, 1),
        _hour("srv-2", "2024-03-12T08:00:00Z", "fh2", 3.0, 3, 1),
        _hour("srv-2", "2024-03-12T09:00:00Z", "fh2", 4.0, 4, 1),
        _hour("srv-3", "2024-03-11T20:00:00Z", "unknown", 30.0, 30, 1),
        _hour("srv-4", "2024-03-11T20:00:00Z", "bf1942", 6.0, 6, 1),
    ],
    # player, rounds, kills, deaths, score, minutes, avg score, kd, kill rate, first, last
    "player_stats_lifetimes": [
        # kills 6+2+3+1+0 = 12, deaths 1+2+0+0+4 = 7, score 60+300+300+200+200 = 1060,
        # minutes 30+30+20+10+25 = 115; KdRatio round(12/7 = 1.7142..) = 1.714,
        # KillRate round(12/115 = 0.10434..) = 0.104; avg 1060 / 5 = 212.
        _lifetime("alice", 5, 12, 7, 1060, 115.0, 212.0, 1.714, 0.104,
                  "2024-01-20T10:00:00Z", "2024-03-01T10:30:00Z"),
        # kills 10+8+6+4+9+20+5+3 = 65, deaths 5+4+2+4+3+1+5+3+2+6 = 35,
        # score 500+500+400+400+450+900+350+350+0-50 = 3800, 10 rounds x 30 min = 300;
        # KdRatio round(1.857142..) = 1.857, KillRate round(0.216666..) = 0.217.
        _lifetime("bella", 10, 65, 35, 3800, 300.0, 380.0, 1.857, 0.217,
                  "2024-01-03T09:30:00Z", "2024-03-12T09:00:00Z"),
        # kills 75 500, deaths 6 x 10 = 60, minutes 90+60+60+30+60+60 = 360;
        # KdRatio round(1258.333..) = 1258.333, KillRate round(209.7222..) = 209.722.
        _lifetime("mike", 6, 75500, 60, 0, 360.0, 0.0, 1258.333, 209.722,
                  "2024-01-01T23:00:00Z", "2024-03-05T11:00:00Z"),
        # No deaths: KdRatio = kills = 7. No minutes: KillRate = 0.
        _lifetime("zed", 1, 7, 0, 70, 0.0, 70.0, 7.0, 0.0,
                  "2024-03-08T10:00:00Z", "2024-03-08T10:20:00Z"),
        # round(4/3) = 1.333, round(4/30.5 = 0.13114..) = 0.131.
        _lifetime(QUOTED_PLAYER, 1, 4, 3, 42, 30.5, 42.0, 1.333, 0.131,
                  "2024-03-12T20:00:00Z", "2024-03-12T20:30:00Z"),
        # round(1/2) = 0.5, round(1/15 = 0.0666..) = 0.067.
        _lifetime(EMPTY_PLAYER, 1, 1, 2, -10, 15.0, -10.0, 0.5, 0.067,
                  "2024-03-09T10:00:00Z", "2024-03-09T10:30:00Z"),
    ],
    # player, server, rounds, kills, deaths, score, minutes, then the highest round's
    # score, round_id, map and start
    "player_server_stats": [
        # a-1', a-2, a-3; highest 300: a-3 ends before a-2.
        _on_server("alice", "srv-1", 3, 11, 3, 660, 80.0,
                   300, "a-3", "berlin", "2024-01-20T10:00:00Z"),
        # a-x, a-w; highest 200 ends 10:30 for both: 'a-w' < 'a-x'; its start is 10:05.
        _on_server("alice", "srv-2", 2, 1, 4, 400, 35.0,
                   200, "a-w", "berlin", "2024-03-01T10:05:00Z"),
        # b-1, b-2, b-4, b-7z, b-9, b-10: kills 10+8+4+5 = 27, deaths 5+4+4+5+2+6 = 26,
        # score 500+500+400+350+0-50 = 1700; highest 500: b-2 ends before b-1.
        _on_server("bella", "srv-1", 6, 27, 26, 1700, 180.0,
                   500, "b-2", "wake", "2024-01-03T09:30:00Z"),
        # b-3, b-5, b-6, b-7a: kills 6+9+20+3 = 38, deaths 2+3+1+3 = 9, score 2100.
        _on_server("bella", "srv-2", 4, 38, 9, 2100, 120.0,
                   900, "b-6", "wake", "2024-02-12T11:29:59Z"),
        # Every score is 0: the earliest end, m-1.
        _on_server("mike", "srv-1", 6, 75500, 60, 0, 360.0,
                   0, "m-1", "wake", "2024-01-01T23:00:00Z"),
        _on_server("zed", "srv-2", 1, 7, 0, 70, 0.0,
                   70, "z-1", "berlin", "2024-03-08T10:00:00Z"),
        _on_server(QUOTED_PLAYER, "srv-1", 1, 4, 3, 42, 30.5,
                   42, "q-1", "wake", "2024-03-12T20:00:00Z"),
        _on_server(EMPTY_PLAYER, "srv-2", 1, 1, 2, -10, 15.0,
                   -10, "e-1", "wake", "2024-03-09T10:00:00Z"),
    ],
    # player, map, server ('' = all servers), rounds, kills, deaths, score, minutes
    "player_map_stats": [
        _on_map("alice", "berlin", "", 2, 3, 4, 500, 45.0),  # a-3 + a-w
        _on_map("alice", "berlin", "srv-1", 1, 3, 0, 300, 20.0),
        _on_map("alice", "berlin", "srv-2", 1, 0, 4, 200, 25.0),
        _on_map("alice", "wake", "", 3, 9, 3, 560, 70.0),  # a-1' + a-2 + a-x
        _on_map("alice", "wake", "srv-1", 2, 8, 3, 360, 60.0),
        _on_map("alice", "wake", "srv-2", 1, 1, 0, 200, 10.0),
        _on_map("bella", "berlin", "", 2, 10, 6, 800, 60.0),  # b-3 + b-4
        _on_map("bella", "berlin", "srv-1", 1, 4, 4, 400, 30.0),
        _on_map("bella", "berlin", "srv-2", 1, 6, 2, 400, 30.0),
        _on_map("bella", "wake", "", 8, 55, 29, 3000, 240.0),
        # b-1, b-2, b-7z, b-9, b-10: kills 23, deaths 5+4+5+2+6 = 22, score 1300.
        _on_map("bella", "wake", "srv-1", 5, 23, 22, 1300, 150.0),
        # b-5, b-6, b-7a: kills 32, deaths 7, score 1700.
        _on_map("bella", "wake", "srv-2", 3, 32, 7, 1700, 90.0),
        _on_map("mike", "wake", "", 6, 75500, 60, 0, 360.0),
        _on_map("mike", "wake", "srv-1", 6, 75500, 60, 0, 360.0),
        _on_map("zed", "berlin", "", 1, 7, 0, 70, 0.0),
        _on_map("zed", "berlin", "srv-2", 1, 7, 0, 70, 0.0),
        _on_map(QUOTED_PLAYER, "wake", "", 1, 4, 3, 42, 30.5),
        _on_map(QUOTED_PLAYER, "wake", "srv-1", 1, 4, 3, 42, 30.5),
        _on_map(EMPTY_PLAYER, "wake", "", 1, 1, 2, -10, 15.0),
        _on_map(EMPTY_PLAYER, "wake", "srv-2", 1, 1, 2, -10, 15.0),
    ],
    # player, milestone, achieved_at, total kills then, days; mike's first start is
    # 2024-01-01 23:00 (the bot's 2023-12-30 round does not count).
    "player_milestones": [
        _milestone("mike", 5000, "2024-01-02T00:30:00Z", 5000, 1),  # Jan 1 -> Jan 2
        _milestone("mike", 10000, "2024-02-01T11:00:00Z", 21000, 31),  # Jan 1 -> Feb 1
        _milestone("mike", 20000, "2024-02-01T11:00:00Z", 21000, 31),
        _milestone("mike", 50000, "2024-03-01T12:00:00Z", 50000, 60),  # 31 + 29
        _milestone("mike", 75000, "2024-03-05T11:00:00Z", 75000, 64),  # 31 + 29 + 4
    ],
    # player, period, rank, score, kills, deaths, map, server, round end, round_id
    "player_best_scores": [
        _best("alice", ALL, 1, 300, 3, 0, "berlin", "srv-1", "2024-01-20T10:30:00Z", "a-3"),
        _best("alice", ALL, 2, 300, 2, 2, "wake", "srv-1", "2024-02-02T10:30:00Z", "a-2"),
        _best("alice", ALL, 3, 200, 0, 4, "berlin", "srv-2", "2024-03-01T10:30:00Z", "a-w"),
        _best("alice", D30, 1, 200, 0, 4, "berlin", "srv-2", "2024-03-01T10:30:00Z", "a-w"),
        _best("alice", D30, 2, 200, 1, 0, "wake", "srv-2", "2024-03-01T10:30:00Z", "a-x"),
        _best("bella", ALL, 1, 900, 20, 1, "wake", "srv-2", "2024-02-12T11:59:59Z", "b-6"),
        _best("bella", ALL, 2, 500, 8, 4, "wake", "srv-1", "2024-01-03T10:00:00Z", "b-2"),
        _best("bella", ALL, 3, 500, 10, 5, "wake", "srv-1", "2024-01-05T10:00:00Z", "b-1"),
        _best("bella", D30, 1, 450, 9, 3, "wake", "srv-2", "2024-02-12T12:00:00Z", "b-5"),
        _best("bella", D30, 2, 400, 4, 4, "berlin", "srv-1", "2024-03-10T23:59:59Z", "b-4"),
        _best("bella", D30, 3, 400, 6, 2, "berlin", "srv-2", "2024-03-11T00:00:00Z", "b-3"),
        _best("bella", WEEK, 1, 400, 6, 2, "berlin", "srv-2", "2024-03-11T00:00:00Z", "b-3"),
        _best("bella", WEEK, 2, 350, 3, 3, "wake", "srv-2", "2024-03-12T09:00:00Z", "b-7a"),
        _best("bella", WEEK, 3, 350, 5, 5, "wake", "srv-1", "2024-03-12T09:00:00Z", "b-7z"),
        _best("zed", ALL, 1, 70, 7, 0, "berlin", "srv-2", "2024-03-08T10:20:00Z", "z-1"),
        _best("zed", D30, 1, 70, 7, 0, "berlin", "srv-2", "2024-03-08T10:20:00Z", "z-1"),
        _best(QUOTED_PLAYER, ALL, 1, 42, 4, 3, "wake", "srv-1", "2024-03-12T20:30:00Z", "q-1"),
        _best(QUOTED_PLAYER, D30, 1, 42, 4, 3, "wake", "srv-1", "2024-03-12T20:30:00Z", "q-1"),
        _best(QUOTED_PLAYER, WEEK, 1, 42, 4, 3, "wake", "srv-1", "2024-03-12T20:30:00Z", "q-1"),
    ],
    # server, day of week, hour, avg, min, q25, median, q75, q90, max, data points.
    # Percentiles are PERCENTILE.INC: position h = (n - 1) p, linear between neighbours.
    "server_hourly_patterns": [
        _single_value_pattern("srv-1", 0, 15, 4.0),  # Sunday 2024-03-10
        _single_value_pattern("srv-1", 1, 14, 8.0),
        # Sorted 10, 20, 40, 80 (n = 4): q25 h=0.75 -> 10 + 0.75*10 = 17.5; median h=1.5 -> 30;
        # q75 h=2.25 -> 40 + 0.25*40 = 50; q90 h=2.7 -> 40 + 0.7*40 = 68; avg 150/4 = 37.5.
        _pattern("srv-1", 1, 20, 37.5, 10.0, 17.5, 30.0, 50.0, 68.0, 80.0, 4),
        # Sorted 1, 3, 5, 7, 9 (n = 5): q25 h=1 -> 3; median 5; q75 h=3 -> 7;
        # q90 h=3.6 -> 7 + 0.6*2 = 8.2; avg 25/5 = 5.
        _pattern("srv-1", 2, 8, 5.0, 1.0, 3.0, 5.0, 7.0, 8.2, 9.0, 5),
        _single_value_pattern("srv-1", 2, 9, 7.0),
        _single_value_pattern("srv-1", 3, 9, 3.0),
        _single_value_pattern("srv-1", 3, 11, 5.0),  # 2024-03-13 11:00, the last hour
        _single_value_pattern("srv-1", 6, 11, 15.0),  # 2024-01-13 11:00 is before the window
        # 11 (2024-01-13 12:00, the window's first hour) and 17: q25 11 + 0.25*6 = 12.5,
        # q75 15.5, q90 11 + 0.9*6 = 16.4.
        _pattern("srv-1", 6, 12, 14.0, 11.0, 12.5, 14.0, 15.5, 16.4, 17.0, 2),
        _single_value_pattern("srv-2", 2, 8, 3.0),
        # 1 and 4: q25 1.75, median 2.5, q75 3.25, q90 1 + 0.9*3 = 3.7.
        _pattern("srv-2", 2, 9, 2.5, 1.0, 1.75, 2.5, 3.25, 3.7, 4.0, 2),
        _single_value_pattern("srv-3", 1, 20, 30.0),
        _single_value_pattern("srv-4", 1, 20, 6.0),
    ],
    # game, day of week, hour, predicted players, data points (dates)
    "hourly_player_predictions": [
        _prediction("bf1942", 0, 15, 4.0, 1),
        _prediction("bf1942", 1, 14, 8.0, 1),
        # Mondays 20:00: 40, 10, 80 and 20 + 6 (srv-1 + srv-4; srv-3's `unknown` ignored) -> 156/4.
        _prediction("bf1942", 1, 20, 39.0, 4),
        _prediction("bf1942", 2, 8, 5.0, 5),  # (5 + 1 + 3 + 9 + 7) / 5
        _prediction("bf1942", 3, 9, 3.0, 1),
        _prediction("bf1942", 3, 11, 5.0, 1),
        _prediction("bf1942", 6, 11, 15.0, 1),
        _prediction("bf1942", 6, 12, 14.0, 2),  # (11 + 17) / 2
        _prediction("fh2", 2, 8, 3.0, 1),
        # 2024-03-05: srv-1's fh2 hour 7 + srv-2 1 = 8; 2024-03-12: srv-2 4 -> (8 + 4) / 2.
        _prediction("fh2", 2, 9, 6.0, 2),
    ],
}
# fmt: on
