"""The one family of errors this package raises, so callers can catch them together."""

from __future__ import annotations

from bfstats.errors import BfstatsError


class SchemaError(ValueError, BfstatsError):
    """A SQLite table cannot be derived, validated or matched; the message says what to do."""


class UnsupportedTypeError(SchemaError):
    """A model column's ClickHouse type has no faithful SQLite counterpart."""
