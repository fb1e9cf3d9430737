"""An injectable clock: services take `now` explicitly; views and jobs get it from here."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock for tests and replays: it reads `at` and moves only when told."""

    def __init__(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("FixedClock needs an aware datetime")
        self.at = at

    def now(self) -> datetime:
        return self.at

    def advance(self, **kwargs: float) -> datetime:
        self.at += timedelta(**kwargs)
        return self.at


def utcnow() -> datetime:
    """The current app's clock, or the system clock outside an app context."""
    from flask import current_app, has_app_context

    if has_app_context():
        clock: Clock = current_app.extensions["citymgmt.clock"]
        return clock.now()
    return SystemClock().now()
