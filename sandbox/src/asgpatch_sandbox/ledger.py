"""Every signed AWS call the sandbox received, counted by service and operation, and the ones it
throttled: what a benchmark reads from outside to say how many calls a design makes (retries
included, since each retry reaches the endpoint again)."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from asgpatch_sandbox.protocol import AwsCall


class CallLedger:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: Counter[str] = Counter()
        self._throttled: Counter[str] = Counter()

    def received(self, call: AwsCall) -> None:
        with self._lock:
            self._calls[f"{call.service}:{call.operation}"] += 1

    def throttled(self, call: AwsCall) -> None:
        with self._lock:
            self._throttled[f"{call.service}:{call.operation}"] += 1

    def view(self) -> dict[str, Any]:
        """Counts since the sandbox started (a reader takes differences between two views)."""
        with self._lock:
            return {"calls": dict(self._calls), "throttled": dict(self._throttled),
                    "total": sum(self._calls.values()), "throttled_total": sum(self._throttled.values())}  # fmt: skip
