"""dbt's unit-testing and `dbt show` cases on `chdb`: fixtures are cast with dbt-clickhouse's
macros and compared from the rows our client returns."""

from __future__ import annotations

import pytest
from dbt.tests.adapter.dbt_show.test_dbt_show import BaseShowLimit, BaseShowSqlHeader
from dbt.tests.adapter.unit_testing.test_case_insensitivity import BaseUnitTestCaseInsensivity
from dbt.tests.adapter.unit_testing.test_invalid_input import BaseUnitTestInvalidInput
from dbt.tests.adapter.unit_testing.test_quoted_reserved_word_column_names import (
    BaseUnitTestQuotedReservedWordColumnNames,
)
from dbt.tests.adapter.unit_testing.test_types import BaseUnitTestingTypes

pytestmark = [
    pytest.mark.slow,
    # dbt-tests-adapter's classes declare class-scoped fixtures as methods; pytest 9 warns.
    pytest.mark.filterwarnings("ignore:Class-scoped fixtures defined as instance methods"),
]


class TestUnitTestingTypes(BaseUnitTestingTypes):
    @pytest.fixture
    def data_types(self):
        # (SQL of the upstream column, YAML value of the fixture): ClickHouse's literals instead
        # of Postgres casts; no JSON column (the project has none).
        return [
            ["1", "1"],
            ["'1'", "1"],
            ["true", "true"],
            ["DATE '2020-01-02'", "2020-01-02"],
            ["TIMESTAMP '2013-11-03 00:00:00'", "2013-11-03 00:00:00"],
            ["toDateTime('2023-10-29 01:30:00', 'UTC')", "2013-11-03 00:00:00"],
            ["toNullable(toDateTime('2023-10-29 01:30:00', 'UTC'))", "2013-11-03 00:00:00"],
            ["toUInt16(7)", "7"],
            ["toFloat64(0.5)", "0.5"],
            ["toLowCardinality('a')", "a"],
            ["cast('a' as Enum8('a' = 1, 'b' = 2))", "b"],
            ["'1'::numeric", "1"],
        ]


class TestUnitTestCaseInsensitivity(BaseUnitTestCaseInsensivity):
    pass


class TestUnitTestInvalidInput(BaseUnitTestInvalidInput):
    pass


class TestUnitTestQuotedReservedWordColumnNames(BaseUnitTestQuotedReservedWordColumnNames):
    pass


class TestShowLimit(BaseShowLimit):
    pass


class TestShowSqlHeader(BaseShowSqlHeader):
    pass
