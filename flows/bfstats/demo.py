"""`bfstats generate`: deterministic synthetic raw data for demos, tests and measurements.

The rows are generated inside ClickHouse by the dbt macro `generate_demo_data`
(macros/demo/), run in-process with dbt, so the same code fills the embedded engine and a
ClickHouse server. The counts come back through `dbt show` of the macro `demo_raw_summary`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from bfstats import config, dbt_invoke
from bfstats.errors import UsageError

MAX_SCALE = 10.0  # scale 10 is about 0.5 billion samples at the default cadence
MAX_DAYS = 3650
MAX_CADENCE_MINUTES = 1440
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
# ClickHouse DateTime holds 1970-01-01 to 2106-02-07.
DATETIME_MIN = datetime(1970, 1, 2, tzinfo=UTC)
DATETIME_MAX = datetime(2106, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class GenerateReport:
    target: str  # config.Target.describe(): never holds a password
    source_database: str
    scale: float
    seed: int
    cadence_minutes: int
    days: int
    end_time: datetime
    replaced_rows: int  # rows that were in the raw tables before (0 unless replace)
    generate_seconds: float
    count_seconds: float
    counts: dict = field(default_factory=dict)  # the row of `demo_raw_summary`

    def duplicates(self, table: str) -> int:
        """Rows that FINAL folds away: the re-sent copies."""
        return self.counts[f"{table}_rows"] - self.counts[f"{table}_final_rows"]

    def summary_lines(self) -> list[str]:
        c = self.counts
        lines = [
            f"Generated demo data in {self.target}; raw tables in database "
            f"`{self.source_database}`",
            f"  scale {self.scale:g}, seed {self.seed}, {self.days} days of samples every "
            f"{self.cadence_minutes} min up to {self.end_time:%Y-%m-%dT%H:%M:%SZ}",
        ]
        if self.replaced_rows:
            lines.append(f"  replaced {_n(self.replaced_rows)} rows that were there before")
        lines += [
            f"  player_rounds: {_n(c['player_rounds_rows'])} rows, "
            f"{_n(c['player_rounds_final_rows'])} after FINAL "
            f"({_n(self.duplicates('player_rounds'))} re-sent duplicates); "
            f"{_n(c['players'])} players ({_n(c['bots'])} bots), {_n(c['rounds'])} rounds, "
            f"{_n(c['negative_scores'])} negative scores, {_n(c['missing_pings'])} without ping",
            f"  server_online_counts: {_n(c['server_online_counts_rows'])} rows, "
            f"{_n(c['server_online_counts_final_rows'])} after FINAL "
            f"({_n(self.duplicates('server_online_counts'))} re-sent duplicates); "
            f"{_n(c['servers'])} servers, {_n(c['server_hours'])} hourly server rows, "
            f"samples {c['first_sample']} to {c['last_sample']} UTC",
            f"  games: {c['games'].replace(',', ', ')}; most kills of one player: "
            f"{_n(c['max_player_kills'])} ({_n(c['players_over_100k_kills'])} players over "
            "100 000)",
            f"  generated in {self.generate_seconds:.1f} s, counted in {self.count_seconds:.1f} s",
        ]
        return lines


def generate(
    scale: float = 1.0,
    seed: int = 42,
    cadence_minutes: int = 5,
    days: int = 180,
    replace: bool = False,
    end_time: datetime | None = None,
    dbt_vars: dict | None = None,
) -> GenerateReport:
    """Fill the raw tables in dbt var `source_database` with synthetic rows ending at `end_time`
    (default: now, truncated to the minute). Refuses tables that hold rows unless `replace`."""
    _check_inputs(scale, seed, cadence_minutes, days)
    dbt_vars = {**config.dbt_vars(), **(dbt_vars or {})}  # BFSTATS_SOURCE_DATABASE, as the flow
    end = _end_instant(end_time, days)
    target = config.load_target().describe()

    dbt_invoke.run_operation("create_raw_tables", {}, dbt_vars)
    before = _summary(dbt_vars, detail=False)
    existing = before["player_rounds_rows"] + before["server_online_counts_rows"]
    if existing and not replace:
        raise UsageError(
            f"the raw tables in ClickHouse database `{before['source_database']}` already hold "
            f"{_n(before['player_rounds_rows'])} player_rounds and "
            f"{_n(before['server_online_counts_rows'])} server_online_counts rows: pass "
            "--replace to empty them first, or set dbt var source_database to another database"
        )

    started = time.perf_counter()
    dbt_invoke.run_operation(
        "generate_demo_data",
        {
            "scale": scale,
            "seed": seed,
            "cadence_minutes": cadence_minutes,
            "days": days,
            "end_time": end.strftime("%Y-%m-%d %H:%M:%S"),
            "replace": replace,
        },
        dbt_vars,
    )
    generated = time.perf_counter()
    counts = _summary(dbt_vars, detail=True)
    return GenerateReport(
        target=target,
        source_database=counts["source_database"],
        scale=scale,
        seed=seed,
        cadence_minutes=cadence_minutes,
        days=days,
        end_time=end,
        replaced_rows=existing,
        generate_seconds=generated - started,
        count_seconds=time.perf_counter() - generated,
        counts=counts,
    )


def _check_inputs(scale, seed, cadence_minutes, days) -> None:
    if isinstance(scale, bool) or not isinstance(scale, int | float) or not math.isfinite(scale):
        raise UsageError(f"scale must be a number, got {scale!r}")
    if not 0 < scale <= MAX_SCALE:
        raise UsageError(
            f"scale must be greater than 0 and at most {MAX_SCALE:g} (1 = production volumes), "
            f"got {scale:g}"
        )
    if isinstance(seed, bool) or not isinstance(seed, int) or not INT64_MIN <= seed <= INT64_MAX:
        raise UsageError(f"seed must be a whole number that fits in 64 bits, got {seed!r}")
    for name, value, most in (
        ("cadence_minutes", cadence_minutes, MAX_CADENCE_MINUTES),
        ("days", days, MAX_DAYS),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= most:
            raise UsageError(f"{name} must be a whole number from 1 to {most}, got {value!r}")


def _end_instant(end_time: datetime | None, days: int) -> datetime:
    """The last sample's instant: UTC, whole minutes; a naive datetime is taken as UTC."""
    end = end_time or datetime.now(UTC)
    end = end.replace(tzinfo=UTC) if end.tzinfo is None else end.astimezone(UTC)
    end = end.replace(second=0, microsecond=0)
    if end - timedelta(days=days) < DATETIME_MIN or end > DATETIME_MAX:
        raise UsageError(
            f"the data would span {end - timedelta(days=days):%Y-%m-%d} to {end:%Y-%m-%d}, "
            "outside what a ClickHouse DateTime holds (1970 to 2106): choose another end time"
        )
    return end


def _summary(dbt_vars: dict | None, detail: bool) -> dict:
    """The row of `demo_raw_summary`, through `dbt show` so it works on every target."""
    inline = "{{ demo_raw_summary(detail=%s) }}" % ("true" if detail else "false")
    outcome = dbt_invoke.run(["show", "--inline", inline, "--limit", "1"], dbt_vars)
    results = getattr(outcome.result, "results", None)
    if not outcome.success or not results or results[0].agate_table is None:
        detail_text = "; ".join(outcome.messages.values()) or "see logs/dbt.log"
        raise dbt_invoke.DbtError(f"counting the raw tables (dbt show) failed: {detail_text}")
    table = results[0].agate_table
    row = dict(zip(table.column_names, table.rows[0], strict=True))
    return {name: _plain(value) for name, value in row.items()}


def _plain(value):
    """agate hands numbers back as Decimal; the counts are whole numbers."""
    return int(value) if isinstance(value, Decimal) else value


def _n(value: int) -> str:
    return f"{value:,}".replace(",", " ")
