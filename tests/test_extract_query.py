"""The extraction query on the real embedded engine: primary-key order, instants and enums as
SQLite text, and resuming strictly after a key of every kind the marts use as a key."""

from __future__ import annotations

import pytest
from bfstats import extract_query
from bfstats.catalog import Column, TableSpec
from bfstats.clickhouse_source import EmbeddedSource, rows_of
from bfstats.config import Target, chdb_path

SPEC = TableSpec(
    model="resume_probe",
    unique_id="model.bfstats.resume_probe",
    database="extract_tests",
    service="probe",
    sqlite_table="ResumeProbe",
    columns=(
        Column("player_name", "String"),
        Column("period", "Enum8('all_time' = 1, 'last_30_days' = 2, 'this_week' = 3)"),
        Column("hour_timestamp", "DateTime('UTC')"),
        Column("game", "LowCardinality(String)"),
        Column("seen_at", "Nullable(DateTime('UTC'))"),
    ),
    primary_key=("player_name", "period", "hour_timestamp"),
    indexes=(),
)


@pytest.fixture(scope="module")
def source():
    from dbt.adapters.chdb import engine

    session = engine.connect(str(chdb_path()))
    session.query("CREATE DATABASE IF NOT EXISTS extract_tests")
    session.query("DROP TABLE IF EXISTS extract_tests.resume_probe")
    session.query(
        "CREATE TABLE extract_tests.resume_probe (player_name String, period Enum8("
        "'all_time' = 1, 'last_30_days' = 2, 'this_week' = 3), hour_timestamp DateTime('UTC'), "
        "game LowCardinality(String), seen_at Nullable(DateTime('UTC'))) "
        "ENGINE = MergeTree ORDER BY (player_name, period, hour_timestamp)"
    )
    session.query(
        "INSERT INTO extract_tests.resume_probe VALUES "
        "('a''b', 'this_week', '2024-03-11 00:00:00', 'fh2', NULL), "
        "('a''b', 'all_time', '2024-03-11 01:00:00', 'bf1942', '2024-03-11 01:02:03'), "
        "('a''b', 'all_time', '2024-03-11 00:00:00', 'bf1942', NULL), "
        "('zz 🎯', 'last_30_days', '2024-01-01 23:00:00', 'bfvietnam', NULL)"
    )
    session.close()
    source = EmbeddedSource(Target("test", "chdb", "extract_tests", path=str(chdb_path())))
    yield source
    source.close()


def fetch(source, after_key=None, settings=None) -> list[tuple]:
    query = extract_query.rows_query(SPEC, after_key, settings)
    return [
        row
        for block in rows_of(source.stream(query.name, query.sql, query.parameters, 2))
        for row in block
    ]


def test_rows_come_in_key_order_as_sqlite_text(source):
    assert fetch(source) == [
        ("a'b", "all_time", "2024-03-11T00:00:00Z", "bf1942", None),
        ("a'b", "all_time", "2024-03-11T01:00:00Z", "bf1942", "2024-03-11T01:02:03Z"),
        ("a'b", "this_week", "2024-03-11T00:00:00Z", "fh2", None),
        ("zz 🎯", "last_30_days", "2024-01-01T23:00:00Z", "bfvietnam", None),
    ]


@pytest.mark.parametrize("position", range(4))
def test_resuming_after_any_row_returns_exactly_the_rest(source, position):
    rows = fetch(source)
    positions = extract_query.key_positions(SPEC)
    after = [rows[position][i] for i in positions]
    assert fetch(source, after) == rows[position + 1 :]


def test_count_query_counts_the_mart(source):
    count = extract_query.count_query(SPEC)
    assert source.scalar(count.name, count.sql, count.parameters) == 4


def test_the_embedded_engines_extract_settings_reach_the_query_and_keep_its_rows(source):
    settings = EmbeddedSource.EXTRACT_SETTINGS
    query = extract_query.rows_query(SPEC, None, settings)
    assert query.sql.endswith(
        "SETTINGS max_threads = 1, max_block_size = 8192, read_in_order_use_buffering = 0"
    )
    assert fetch(source, None, settings) == fetch(source)
    after = ["a'b", "all_time", "2024-03-11T00:00:00Z"]
    assert fetch(source, after, settings) == fetch(source, after)
