"""An injectable clock: services take `now` explicitly; views and jobs get it from here."""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
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


class OffsetClock:
    """The wall clock moved forward by the seconds written in a file (CITYMGMT_CLOCK_OFFSET_FILE): every process of
    a running system reads the same file, so a test or a rehearsal moves time for all of them at once. The file is
    read again only when it changes; a missing or empty file is no offset. Never in production (config refuses)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._seen: tuple[int, int] | None = None
        self._offset = timedelta(0)
        self._lock = threading.Lock()

    def offset(self) -> timedelta:
        try:
            stat = os.stat(self.path)
            seen: tuple[int, int] | None = (stat.st_mtime_ns, stat.st_size)
        except FileNotFoundError:
            seen = None
        with self._lock:
            if seen != self._seen:
                self._seen = seen
                text = self.path.read_text(encoding="utf-8").strip() if seen else ""
                try:
                    self._offset = timedelta(seconds=float(text)) if text else timedelta(0)
                except ValueError:
                    raise ValueError(f"CITYMGMT_CLOCK_OFFSET_FILE {self.path}: {text[:40]!r} is not seconds") from None
            return self._offset

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset()

    def advance(self, **kwargs: float) -> datetime:
        """Move every process's clock forward (writes the file)."""
        moved = self.offset() + timedelta(**kwargs)
        partial = self.path.with_name(self.path.name + ".partial")
        partial.write_text(f"{moved.total_seconds():.3f}\n", encoding="utf-8")
        partial.replace(self.path)
        return self.now()


def utcnow() -> datetime:
    """The current app's clock, or the system clock outside an app context."""
    from flask import current_app, has_app_context

    if has_app_context():
        clock: Clock = current_app.extensions["citymgmt.clock"]
        return clock.now()
    return SystemClock().now()
