"""ClickHouse column types -> SQLite declared types, nullability and extraction flags."""

from __future__ import annotations

import sqlite3
from contextlib import closing

import pytest
from bfstats.sqlite_schema import SchemaError, UnsupportedTypeError, translate

ENUM = "Enum8('all_time' = 1, 'last_30_days' = 2, 'this_week' = 3)"

# type -> (declared, nullable, is_instant, is_enum, as_string)
MART_TYPES = {
    "String": ("TEXT", False, False, False, False),
    "LowCardinality(String)": ("TEXT", False, False, False, False),
    "DateTime('UTC')": ("TEXT", False, True, False, False),
    "Nullable(DateTime('UTC'))": ("TEXT", True, True, False, False),
    "Float64": ("REAL", False, False, False, False),
    "UInt8": ("INTEGER", False, False, False, False),
    "UInt16": ("INTEGER", False, False, False, False),
    "UInt32": ("INTEGER", False, False, False, False),
    "UInt64": ("INTEGER", False, False, False, False),
    "Int32": ("INTEGER", False, False, False, False),
    "Int64": ("INTEGER", False, False, False, False),
    ENUM: ("TEXT", False, False, True, True),
}

NEIGHBOUR_TYPES = {
    "FixedString(16)": ("TEXT", False, False, False, True),
    "UUID": ("TEXT", False, False, False, True),
    "Date": ("TEXT", False, True, False, False),
    "Date32": ("TEXT", False, True, False, False),
    "DateTime": ("TEXT", False, True, False, False),
    "DateTime64(3, 'UTC')": ("TEXT", False, True, False, False),
    "DateTime64(6)": ("TEXT", False, True, False, False),
    "Int8": ("INTEGER", False, False, False, False),
    "Int16": ("INTEGER", False, False, False, False),
    "Float32": ("REAL", False, False, False, False),
    "Bool": ("INTEGER", False, False, False, False),
    "Enum16('a' = 1, 'b' = 1000)": ("TEXT", False, False, True, True),
    "Nullable(Enum8('a' = 1))": ("TEXT", True, False, True, True),
    "Nullable(Float64)": ("REAL", True, False, False, False),
    "Nullable(UInt64)": ("INTEGER", True, False, False, False),
    "LowCardinality(Nullable(String))": ("TEXT", True, False, False, False),
    "Nullable(LowCardinality(String))": ("TEXT", True, False, False, False),
    "LowCardinality(FixedString(2))": ("TEXT", False, False, False, True),
    "LowCardinality(Nullable(FixedString(2)))": ("TEXT", True, False, False, True),
}


@pytest.mark.parametrize(
    ("clickhouse_type", "expected"), [*MART_TYPES.items(), *NEIGHBOUR_TYPES.items()]
)
def test_supported_types(clickhouse_type, expected):
    translated = translate(clickhouse_type)
    actual = (
        translated.declared,
        translated.nullable,
        translated.is_instant,
        translated.is_enum,
        translated.as_string,
    )
    assert actual == expected
    assert translated.not_null is not expected[1]
    assert translated.clickhouse_type == clickhouse_type


@pytest.mark.parametrize("clickhouse_type", sorted(MART_TYPES))
def test_declared_type_gets_that_affinity_in_sqlite(clickhouse_type):
    """The declared name is an exact affinity name: a number-looking text stored in the column
    comes back with the storage class SQLite gives that affinity."""
    declared = translate(clickhouse_type).declared
    with closing(sqlite3.connect(":memory:")) as conn:
        conn.execute(f'create table "t" ("c" {declared})')
        conn.execute('insert into "t" values (?)', ("7",))
        (storage,) = conn.execute('select typeof("c") from "t"').fetchone()
    assert storage == {"TEXT": "text", "INTEGER": "integer", "REAL": "real"}[declared]


# type -> a word the error's advice must contain
REJECTED = {
    "Array(String)": "flatten",
    "Map(String, UInt8)": "flatten",
    "Tuple(a String, b UInt8)": "flatten",
    "Nested(a String)": "flatten",
    "JSON": "flatten",
    "Variant(String, UInt8)": "flatten",
    "Dynamic": "flatten",
    "Nullable(Array(String))": "flatten",
    "Decimal(10, 2)": "toFloat64",
    "Decimal64(3)": "toFloat64",
    "LowCardinality(Nullable(Decimal(9, 2)))": "toFloat64",
    "AggregateFunction(sum, UInt64)": "finalize",
    "SimpleAggregateFunction(sum, UInt64)": "finalize",
    "Int128": "Int64",
    "UInt256": "Int64",
    "IPv4": "toString",
    "IPv6": "toString",
    "Time": "seconds",
    "Point": "cast it in the model",
    "Nothing": "cast it in the model",
}


@pytest.mark.parametrize(("clickhouse_type", "advice"), sorted(REJECTED.items()))
def test_rejected_types_name_model_column_type_and_remedy(clickhouse_type, advice):
    with pytest.raises(UnsupportedTypeError) as caught:
        translate(clickhouse_type, model="player_stats", column="score")
    message = str(caught.value)
    assert "model player_stats, column score" in message
    assert repr(clickhouse_type) in message
    assert advice in message
    assert isinstance(caught.value, SchemaError)
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize("text", ["", "Bogus", "Object('json')", "BFloat16"])
def test_unparseable_types_are_rejected(text):
    with pytest.raises(UnsupportedTypeError, match="cannot be parsed.*declare a valid type"):
        translate(text, model="m", column="c")
