"""The benchmark script's arithmetic: each variant's ratio is taken against the baseline run
made just before it, and several pairs give the median ratio with their range."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import SimpleNamespace

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_backfill.py"
_spec = importlib.util.spec_from_file_location("bench_backfill", SCRIPT)
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


def timed(seconds: float):
    """What the arithmetic reads of a finished run (bench.Run starts a process)."""
    return SimpleNamespace(seconds=seconds, rss_mb=100.0)


def test_a_speed_ratio_is_the_baseline_over_the_variant_of_the_same_pair():
    paired = bench.Paired(faster_is_more=True)
    paired.add(timed(40.0), timed(32.0))  # the machine fast: both sides fast
    paired.add(timed(60.0), timed(50.0))  # a slow minute: both sides slow
    paired.add(timed(40.0), timed(50.0))
    assert paired.ratios() == [1.25, 1.2, 0.8]
    assert paired.summary() == "1.20x speed (pairs 0.80x-1.25x)"
    assert paired.median_run().seconds == 50.0


def test_a_time_ratio_is_the_variant_over_the_baseline_and_one_pair_has_no_range():
    paired = bench.Paired(faster_is_more=False)
    paired.add(timed(40.0), timed(80.0))
    assert paired.summary() == "2.00x time"
    paired.add(timed(30.0), timed(75.0))
    assert paired.ratios() == [2.0, 2.5]
    assert paired.summary() == "2.25x time (pairs 2.00x-2.50x)"
    assert paired.median_run().seconds == 75.0  # the lower middle of an even count
