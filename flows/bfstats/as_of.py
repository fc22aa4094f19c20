"""The snapshot instant `as_of` (SPEC section 3): parsing, normalising, defaulting to now."""

from __future__ import annotations

from datetime import UTC, datetime

from bfstats.errors import UsageError

TEXT_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


class AsOfError(UsageError, ValueError):
    """A malformed or future `as_of`."""


def parse(text: str, option: str = "--as-of") -> str:
    """ISO 8601 (`2024-03-13T12:00:00Z`, `2024-03-13 12:00:00`, `+00:00` offsets, a date) ->
    `YYYY-MM-DDTHH:MM:SSZ` in UTC, truncated to the second. A value without an offset is UTC."""
    try:
        instant = datetime.fromisoformat(text.strip())
    except ValueError:
        raise AsOfError(
            f"{option} {text!r} is not an ISO 8601 instant; use e.g. 2024-03-13T12:00:00Z"
        ) from None
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    return instant.astimezone(UTC).strftime(TEXT_FORMAT)


def refuse_future(text: str, option: str = "--as-of") -> None:
    """A snapshot of the future would count nothing that has not happened yet as if it had."""
    if to_datetime(text) > datetime.now(UTC):
        raise AsOfError(
            f"{option} {text} is in the future (now is {now()}); give an instant that has "
            "passed, or leave it out for now"
        )


def to_datetime(text: str) -> datetime:
    """A normalised `YYYY-MM-DDTHH:MM:SSZ` text as an aware UTC datetime."""
    return datetime.strptime(text, TEXT_FORMAT).replace(tzinfo=UTC)


def now() -> str:
    return datetime.now(UTC).strftime(TEXT_FORMAT)
