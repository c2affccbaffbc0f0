"""Bad weather on request: seeded, reproducible transient errors, dropped connections, lost answers.

Three kinds of fault, each at its own rate (`--fault-rate`, `--reset-rate`, `--lost-answer-rate`, or
POST /_sandbox/faults at run time), all drawn from one seed so that a run can be repeated:
- a transient 500 InternalFailure / 503 ServiceUnavailable, before the call takes effect;
- a connection reset: closed unanswered before the call takes effect;
- a lost answer: the call takes effect, then its connection is closed unanswered (and the next call
  of each operation named in `lose_first_answer` does the same), as a timeout on the way back does.
"""

from __future__ import annotations

import contextlib
import random
import socket
import threading
from collections.abc import Callable, Iterable
from typing import Any


class FaultInjector:
    """Answers a seeded, reproducible fraction of calls with a transient 500 or 503."""

    def __init__(self, rate: float, seed: int) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ValueError("the fault rate is a fraction between 0 and 1")
        self.rate = rate
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    def draw(self) -> str | None:
        """None for a healthy call, else "internal" or "unavailable"."""
        if self.rate <= 0:
            return None
        with self._lock:
            if self._random.random() >= self.rate:
                return None
            return "unavailable" if self._random.random() < 0.5 else "internal"


class Weather:
    """The faults in force now; changed at run time through the control API."""

    def __init__(self, fault_rate: float = 0.0, reset_rate: float = 0.0, lost_answer_rate: float = 0.0, seed: int = 0):
        self._lock = threading.Lock()
        self.lose_first: set[str] = set()  # operations whose next call takes effect and loses its answer
        self.set(fault_rate, reset_rate, lost_answer_rate, seed)

    def set(self, fault_rate: float, reset_rate: float, lost_answer_rate: float, seed: int) -> None:
        self.faults = FaultInjector(fault_rate, seed) if fault_rate else None
        self.resets = FaultInjector(reset_rate, seed + 1) if reset_rate else None
        self.losses = FaultInjector(lost_answer_rate, seed + 2) if lost_answer_rate else None

    def lose_first_answer(self, operations: Iterable[str]) -> None:
        with self._lock:
            self.lose_first = set(operations)

    def pending_losses(self) -> list[str]:
        with self._lock:
            return sorted(self.lose_first)

    def resets_connection(self) -> bool:
        return self.resets is not None and self.resets.draw() is not None

    def loses_answer(self, operation: str) -> bool:
        if self.losses is not None and self.losses.draw() is not None:
            return True
        with self._lock:
            if operation in self.lose_first:
                self.lose_first.discard(operation)
                return True
        return False

    def transient_fault(self) -> str | None:
        """None, or the kind of transient error this call gets: "internal" or "unavailable"."""
        return self.faults.draw() if self.faults is not None else None


def drop_connection(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    """Close the client's connection without an answer, as a reset or an idle timeout on the way does
    (botocore sees "Connection was closed before we received a valid response" and retries). The
    server's attempt to answer then meets a broken pipe, which it treats as a dropped connection."""
    connection = environ.get("werkzeug.socket")
    if connection is not None:
        with contextlib.suppress(OSError):
            connection.shutdown(socket.SHUT_RDWR)
    start_response("500 Connection dropped", [("Content-Length", "0")])
    return [b""]
