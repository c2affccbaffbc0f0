"""The sandbox's notion of "now": wall-clock time plus an offset that tests can advance.

Every timed behaviour (boot, SSM registration, patching, imaging, scheduled actions) reads this
clock, so a test can jump ten minutes ahead instead of sleeping ten minutes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime


class VirtualClock:
    def __init__(self, wall: Callable[[], float] = time.time) -> None:
        self._wall = wall
        self.offset = 0.0

    def now(self) -> float:
        return self._wall() + self.offset

    def now_datetime(self) -> datetime:
        return datetime.fromtimestamp(self.now(), tz=UTC)

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("the sandbox clock only moves forward")
        self.offset += seconds
