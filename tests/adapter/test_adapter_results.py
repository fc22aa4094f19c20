"""What only our adapter can get wrong: the Python values of query results (dbt's agate tables
for `run_query`, `dbt show` and unit-test diffs) must be those dbt-clickhouse's own HTTP client
returns, i.e. clickhouse-connect's decoding of each ClickHouse type."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

pytestmark = pytest.mark.filterwarnings("ignore:Class-scoped fixtures defined as instance methods")


class TestQueryResultValues:
    def test_clickhouse_types_decode_as_with_clickhouse_connect(self, project):
        row = project.run_sql(
            """
            select
                toDateTime('2024-03-13 12:00:00', 'UTC') as instant,
                toNullable(toDateTime('2024-03-11 00:00:00', 'UTC')) as maybe_instant,
                cast(null as Nullable(DateTime('UTC'))) as no_instant,
                toDate('2024-02-29') as day,
                cast('last_30_days' as Enum8('all_time' = 1, 'last_30_days' = 2)) as period,
                toLowCardinality('fh2') as game,
                toUInt64(18446744073709551615) as big,
                toInt32(-7) as score,
                toFloat64(8.2) as q90,
                toDecimal64(1.5, 2) as ratio,
                [1, 2] as numbers,
                'O''Brien "The 🎯"' as name
            """,
            fetch="one",
        )
        assert tuple(row) == (
            datetime(2024, 3, 13, 12, 0, 0),
            datetime(2024, 3, 11, 0, 0, 0),
            None,
            date(2024, 2, 29),
            "last_30_days",
            "fh2",
            18446744073709551615,
            -7,
            8.2,
            Decimal("1.50"),
            [1, 2],
            'O\'Brien "The 🎯"',
        )

    def test_statements_and_empty_results(self, project):
        table = f"{project.test_schema}.events"
        # MergeTree: the engine (and a Memory table's rows) goes away when its last session closes.
        create = f"create table {table} (id UInt8) engine = MergeTree order by id"
        assert project.run_sql(create) is None
        assert project.run_sql(f"select id from {table}", fetch="all") == []
        project.run_sql(f"insert into {table} values (1), (2)")
        assert project.run_sql(f"select count() from {table}", fetch="one")[0] == 2
