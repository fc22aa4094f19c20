"""How a mart built in parts is cut (bfstats.build_parts) and how its load waits for the parts.
The builds themselves run on the real engine in test_backfill_flow.py and test_fault_runs.py."""

from __future__ import annotations

import threading
import time

import pytest
from bfstats import build_parts
from bfstats.build_parts import Part, PartsBuilt


def covering(parts: list[Part], value: str) -> list[Part]:
    return [
        p
        for p in parts
        if (p.lower is None or value >= p.lower) and (p.upper is None or value < p.upper)
    ]


def test_ranges_cut_at_the_quantiles_and_cover_every_value_once():
    values = [f"{i:03d}" for i in range(100)]
    parts = build_parts.ranges(values, 4)
    assert [(p.lower, p.upper) for p in parts] == [
        (None, "025"),
        ("025", "050"),
        ("050", "075"),
        ("075", None),
    ]
    assert [p.first for p in parts] == [True, False, False, False]
    # Values the index never saw (between, before, after its values) fall in exactly one part.
    for value in ["", "000", "024", "0245", "025", "099", "zzz", "\x00"]:
        assert len(covering(parts, value)) == 1, value


def test_repeated_index_values_never_give_an_empty_or_repeated_bound():
    # The quartiles fall on b, b and b: one bound, two parts.
    parts = build_parts.ranges(["a"] * 10 + ["b"] * 30 + ["c"] * 10, 4)
    assert [(p.lower, p.upper) for p in parts] == [(None, "b"), ("b", None)]
    # Most rows under the smallest value: nothing cuts before it.
    assert len(build_parts.ranges(["a"] * 50 + ["b"] * 3, 4)) == 1


@pytest.mark.parametrize("values", [[], ["only"], ["same"] * 40])
def test_an_index_with_nothing_to_cut_gives_one_open_part(values):
    assert build_parts.ranges(values, 4) == [Part(first=True, lower=None, upper=None)]


def test_the_part_var_is_what_the_filter_macro_reads():
    assert Part(False, "a'b", None).var() == {"first": False, "lower": "a'b", "upper": None}


def test_a_load_waits_for_the_next_part_and_learns_when_all_are_in():
    parts = PartsBuilt("server_online_counts")
    parts.plan(3)
    parts.built(1)
    assert parts.wait_beyond(0, lambda: None) == 1
    seen = []
    waiter = threading.Thread(target=lambda: seen.append(parts.wait_beyond(1, lambda: None)))
    waiter.start()
    time.sleep(0.3)
    assert seen == []  # part 2 is not built yet
    parts.built(3)
    waiter.join(timeout=5)
    assert seen == [3] and parts.complete


def test_a_load_waiting_for_a_part_whose_build_failed_raises_with_the_reason():
    parts = PartsBuilt("server_online_counts")
    parts.plan(4)
    parts.built(2)
    parts.failed(RuntimeError("Code: 241. Memory limit exceeded"))
    with pytest.raises(build_parts.BuildUnfinished) as raised:
        parts.wait_beyond(2, lambda: None)
    assert str(raised.value) == (
        "the build of server_online_counts stopped after 2 of 4 parts (Code: 241. Memory limit "
        "exceeded); its table was not loaded"
    )


def test_a_load_waiting_for_a_part_stops_with_the_run():
    class Stopped(Exception):
        pass

    def stop():
        raise Stopped

    parts = PartsBuilt("server_online_counts")
    parts.plan(2)
    parts.built(1)
    with pytest.raises(Stopped):
        parts.wait_beyond(1, stop)


class _Manifest:
    """The two things `plan` reads of dbt's manifest: a mart reading one raw table."""

    def __init__(self, database: str, table: str, column: str):
        from types import SimpleNamespace

        self.sources = {
            "source.bfstats.raw.samples": SimpleNamespace(schema=database, identifier=table)
        }
        self.nodes = {
            "model.bfstats.mart": SimpleNamespace(
                name="mart",
                resource_type="model",
                meta={},
                config=SimpleNamespace(meta={"build_in_parts": {"parts": 4, "column": column}}),
                depends_on=SimpleNamespace(nodes=["source.bfstats.raw.samples"]),
            )
        }


@pytest.fixture
def index_source(clickhouse):
    """A raw table of 2-row granules on the real engine, and a source to query it."""
    from bfstats.clickhouse_source import EmbeddedSource
    from bfstats.config import Target, chdb_path

    clickhouse.query("CREATE DATABASE IF NOT EXISTS parts_tests")
    clickhouse.query("DROP TABLE IF EXISTS parts_tests.samples")
    clickhouse.query(
        "CREATE TABLE parts_tests.samples (server_guid String, n UInt32) "
        "ENGINE = MergeTree ORDER BY server_guid SETTINGS index_granularity = 2"
    )
    clickhouse.query(
        "INSERT INTO parts_tests.samples SELECT 'srv-' || leftPad(toString(number % 40), 2, '0'), "
        "number FROM numbers(400)"
    )
    source = EmbeddedSource(Target("test", "chdb", "parts_tests", path=str(chdb_path())))
    yield source
    source.close()


def test_the_raw_tables_index_cuts_the_mart_into_parts_of_about_equal_rows(index_source):
    parts = build_parts.plan(
        _Manifest("parts_tests", "samples", "server_guid"),
        "mart",
        "model.bfstats.mart",
        index_source,
    )
    assert [(p.lower, p.upper) for p in parts] == [
        (None, "srv-10"),
        ("srv-10", "srv-20"),
        ("srv-20", "srv-30"),
        ("srv-30", None),
    ]


def test_an_index_that_cannot_be_read_builds_the_mart_whole(index_source, bfstats_log):
    manifest = _Manifest("parts_tests", "samples", "no_such_column")
    assert build_parts.plan(manifest, "mart", "model.bfstats.mart", index_source) == []
    assert "Building mart whole: the primary index of parts_tests.samples cannot be read" in (
        bfstats_log.text
    )
