"""UTC time as the database stores it (naive) and as the APIs show it (RFC 3339)."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """Now, as a naive UTC datetime: the form every timestamp column holds."""
    return datetime.now(UTC).replace(tzinfo=None)


def to_naive_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)


def rfc3339(value: datetime | None) -> str | None:
    if value is None:
        return None
    return to_naive_utc(value).strftime("%Y-%m-%dT%H:%M:%SZ")


def unix(value: datetime) -> int:
    return int(value.replace(tzinfo=UTC).timestamp())
