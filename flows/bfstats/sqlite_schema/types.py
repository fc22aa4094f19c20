"""ClickHouse column type -> SQLite declared type, nullability, and how the extractor reads it.

The ClickHouse type is parsed with sqlglot so that wrappers and nesting are understood, but
sqlglot's own SQLite rendering is not used: it is wrong for several ClickHouse types (UInt64 ->
UBIGINT, LowCardinality/Enum/DateTime64 -> text SQLite rejects, Decimal -> REAL(p, s), Nullable
silently dropped). SQLite gets exactly the affinity names EF Core writes: TEXT, INTEGER, REAL.

| ClickHouse                                 | SQLite  | the extractor reads it as            |
|--------------------------------------------|---------|--------------------------------------|
| String                                     | TEXT    | the value                            |
| FixedString(n), UUID                       | TEXT    | toString (Arrow: bytes, uuid.UUID)   |
| Enum8(...), Enum16(...)                    | TEXT    | its name (Arrow gives the number)    |
| DateTime, DateTime('tz'), Date, Date32,    | TEXT    | instant `YYYY-MM-DDTHH:MM:SSZ`, UTC; |
|   DateTime64(p), DateTime64(p, 'tz')       |         | a Date is its midnight, DateTime64   |
|                                            |         | loses its sub-seconds                |
| Int8..Int64, UInt8..UInt64, Bool           | INTEGER | the value; UInt64 above 2^63-1 does  |
|                                            |         | not fit (SQLite is signed 64-bit)    |
| Float32, Float64                           | REAL    | the value                            |
| LowCardinality(T)                          | as T    |                                      |
| Nullable(T), either order with LowCard.    | as T    | nullable; everything else NOT NULL   |

Rejected, with what to do in the model: Decimal* (REAL would lose digits), Array, Map, Tuple,
Nested, JSON, Variant, Dynamic (not one scalar), AggregateFunction and SimpleAggregateFunction
(not finalized), Int128/256 and UInt128/256 (wider than 64 bits), IPv4/IPv6, Time/Time64,
Interval, geo types, Nothing, and anything sqlglot cannot parse.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp
from sqlglot.errors import SqlglotError

from bfstats.sqlite_schema.errors import UnsupportedTypeError

TEXT = "TEXT"
INTEGER = "INTEGER"
REAL = "REAL"

T = exp.DataType.Type


@dataclass(frozen=True)
class SqliteType:
    clickhouse_type: str  # as the model's contract declares it
    declared: str  # TEXT, INTEGER or REAL
    nullable: bool
    is_instant: bool = False  # extract formatted as `YYYY-MM-DDTHH:MM:SSZ` in UTC
    is_enum: bool = False  # extract the member's name, not its number
    as_string: bool = False  # extract through toString: Arrow would not give a str

    @property
    def not_null(self) -> bool:
        return not self.nullable


@dataclass(frozen=True)
class _Rule:
    declared: str
    is_instant: bool = False
    is_enum: bool = False
    as_string: bool = False


_TEXT = _Rule(TEXT)
_STRINGIFIED = _Rule(TEXT, as_string=True)
_ENUM = _Rule(TEXT, is_enum=True, as_string=True)
_INSTANT = _Rule(TEXT, is_instant=True)
_INTEGER = _Rule(INTEGER)
_REAL = _Rule(REAL)

# Keys are sqlglot's types for ClickHouse's names and for the SQL aliases ClickHouse accepts
# (VARCHAR, BIGINT, TIMESTAMP...), which a contract may spell either way.
_RULES: dict[exp.DataType.Type, _Rule] = {
    T.TEXT: _TEXT,
    T.VARCHAR: _TEXT,
    T.CHAR: _TEXT,
    T.FIXEDSTRING: _STRINGIFIED,
    T.UUID: _STRINGIFIED,
    T.ENUM: _ENUM,
    T.ENUM8: _ENUM,
    T.ENUM16: _ENUM,
    T.DATETIME: _INSTANT,
    T.DATETIME64: _INSTANT,
    T.TIMESTAMP: _INSTANT,
    T.DATE: _INSTANT,
    T.DATE32: _INSTANT,
    T.TINYINT: _INTEGER,
    T.SMALLINT: _INTEGER,
    T.INT: _INTEGER,
    T.BIGINT: _INTEGER,
    T.UTINYINT: _INTEGER,
    T.USMALLINT: _INTEGER,
    T.UINT: _INTEGER,
    T.UBIGINT: _INTEGER,
    T.BOOLEAN: _INTEGER,
    T.FLOAT: _REAL,
    T.DOUBLE: _REAL,
}

_TO_SCALAR = "a SQLite column holds one scalar: flatten it in the model, or serialize it to String"
_HINTS: dict[exp.DataType.Type, str] = {
    **dict.fromkeys(
        (T.DECIMAL, T.DECIMAL32, T.DECIMAL64, T.DECIMAL128, T.DECIMAL256),
        "REAL would lose digits: cast it in the model (toFloat64 if that precision is "
        "acceptable, toString to keep every digit)",
    ),
    **dict.fromkeys(
        (T.ARRAY, T.MAP, T.STRUCT, T.NESTED, T.JSON, T.VARIANT, T.DYNAMIC, T.OBJECT), _TO_SCALAR
    ),
    **dict.fromkeys(
        (T.AGGREGATEFUNCTION, T.SIMPLEAGGREGATEFUNCTION),
        "it is an aggregate state: finalize it in the model (finalizeAggregation or -Merge)",
    ),
    **dict.fromkeys(
        (T.INT128, T.INT256, T.UINT128, T.UINT256),
        "SQLite integers are 64-bit: cast it in the model to Int64 if the values fit, or to String",
    ),
    **dict.fromkeys((T.IPV4, T.IPV6), "cast it to String in the model (toString)"),
    **dict.fromkeys(
        (T.TIME, T.INTERVAL),
        "convert it in the model to String or to a number of seconds",
    ),
}
_SUPPORTED = (
    "String, FixedString, UUID, Enum8/16, Date, Date32, DateTime, DateTime64, Int8..Int64, "
    "UInt8..UInt64, Bool, Float32, Float64, optionally in LowCardinality and/or Nullable"
)


def translate(
    clickhouse_type: str, *, model: str | None = None, column: str | None = None
) -> SqliteType:
    """The SQLite column for a model column of `clickhouse_type`; `model` and `column` only
    name the culprit in the error raised for a type SQLite cannot hold faithfully."""
    where = _where(model, column)
    try:
        parsed = exp.DataType.build(clickhouse_type, dialect="clickhouse")
    except SqlglotError as error:
        raise UnsupportedTypeError(
            f"{where}ClickHouse type {clickhouse_type!r} cannot be parsed ({error}); "
            f"declare a valid type in the model's contract: {_SUPPORTED}"
        ) from None
    nullable, scalar = _unwrap(parsed)
    rule = _RULES.get(scalar.this)
    if rule is None:
        hint = _HINTS.get(scalar.this, f"cast it in the model to one of: {_SUPPORTED}")
        raise UnsupportedTypeError(
            f"{where}ClickHouse type {clickhouse_type!r} has no SQLite counterpart; {hint}"
        )
    return SqliteType(
        clickhouse_type=clickhouse_type,
        declared=rule.declared,
        nullable=nullable,
        is_instant=rule.is_instant,
        is_enum=rule.is_enum,
        as_string=rule.as_string,
    )


def _unwrap(data_type: exp.DataType) -> tuple[bool, exp.DataType]:
    """Strip LowCardinality and Nullable, in any nesting; sqlglot keeps Nullable as a flag on
    whichever level it wrapped, so every level is asked."""
    nullable = bool(data_type.args.get("nullable"))
    while data_type.this == T.LOWCARDINALITY and len(data_type.expressions) == 1:
        data_type = data_type.expressions[0]
        nullable = nullable or bool(data_type.args.get("nullable"))
    return nullable, data_type


def _where(model: str | None, column: str | None) -> str:
    if model and column:
        return f"model {model}, column {column}: "
    if column:
        return f"column {column}: "
    return f"model {model}: " if model else ""
