"""Time as the ledger writes it: UTC, fixed-width ISO-8601 with microseconds, so it sorts as text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

ONE_US = timedelta(microseconds=1)


def utcnow() -> datetime:
    return datetime.now(UTC)


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError(f"timestamp without offset: {text!r}")
    return value.astimezone(UTC)


def next_stamp(now: datetime, last: str | None) -> str:
    """Strictly increasing per account: max(now, last + 1us)."""
    if last is None:
        return stamp(now)
    floor = parse(last) + ONE_US
    return stamp(max(now, floor))


def day_of(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d")


def month_of(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m")
