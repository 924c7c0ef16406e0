"""The wall clock in one place, so that code reading it can be handed another clock by tests."""

from __future__ import annotations

from datetime import UTC, date, datetime


def now_utc() -> datetime:
    return datetime.now(UTC)


def now_iso() -> str:
    """The current UTC time as ISO 8601 to the second."""
    return now_utc().isoformat(timespec="seconds")


def today_utc() -> date:
    return now_utc().date()
