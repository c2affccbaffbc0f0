"""A deliberate crash for the crash-matrix tests: `ASGPATCH_CRASH_AFTER=SetCapacity:1` makes the CLI
kill itself with SIGKILL right after the first SetCapacity succeeds, as a power cut would.

It exists so tests can stop a real run at every phase boundary deterministically; it does nothing
unless that variable is set.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Mapping

from asgpatch.actions import Action

VARIABLE = "ASGPATCH_CRASH_AFTER"


def from_environment(environ: Mapping[str, str]) -> Callable[[Action], None] | None:
    spec = environ.get(VARIABLE, "").strip()
    if not spec:
        return None
    kind, _, count = spec.partition(":")
    remaining = {"n": int(count or "1")}

    def after(action: Action) -> None:
        if type(action).__name__ != kind:
            return
        remaining["n"] -= 1
        if remaining["n"] <= 0:
            os.kill(os.getpid(), signal.SIGKILL)

    return after
