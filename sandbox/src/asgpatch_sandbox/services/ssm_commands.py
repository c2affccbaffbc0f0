"""Run Command's commands and invocations: the sandbox's own record of them.

moto's Command gives every instance an invocation and finishes at once; here each targeted node
gets an invocation that is Pending, then InProgress, and ends when its run ends (ssm_run_command.py
moves them along the clock). The command's status aggregates its invocations as Run Command does,
with MaxConcurrency and MaxErrors.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from asgpatch_sandbox.services.ssm_common import constraint_error

DELIVERY_SECONDS = 1.0  # Pending -> InProgress


@dataclass
class Invocation:
    """One command on one node. Times are sandbox seconds; `final` is set once it ends."""

    instance: Any
    instance_name: str
    fault: str | None  # the group's sandbox:patch tag: "fail", "hang", "partial" or None
    start_at: float | None = None  # delivered to the agent (InProgress from then)
    end_at: float | None = None  # when the run will end, once started
    outcome: str = "Success"  # how it will end: Success, Failed, TimedOut
    level_before: int = 0
    level_target: int = 0
    final: tuple[str, str] | None = None  # (Status, StatusDetails)
    finished_at: float | None = None
    response_code: int = -1
    stdout: str = ""
    stderr: str = ""

    @property
    def instance_id(self) -> str:
        return str(self.instance.id)

    def phase(self, now: float) -> tuple[str, str]:
        if self.final is not None:
            return self.final
        if self.start_at is not None and self.start_at <= now:
            return "InProgress", "InProgress"
        return "Pending", "Pending"

    @property
    def started(self) -> bool:
        return self.start_at is not None

    @property
    def counts_as_error(self) -> bool:
        return self.final in (("Failed", "Failed"), ("TimedOut", "ExecutionTimedOut"))


@dataclass
class Command:
    command_id: str
    region: str
    document: Any
    document_version: str
    parameters: dict[str, list[str]]
    requested: float
    comment: str
    instance_ids: list[str]
    targets: list[dict[str, Any]]
    timeout_seconds: int
    max_concurrency: str
    max_errors: str
    extras: dict[str, Any]
    invocations: list[Invocation] = field(default_factory=list)
    cancelled: bool = False

    @property
    def document_name(self) -> str:
        return str(self.document.name)

    @property
    def concurrency(self) -> int:
        return max(1, _absolute(self.max_concurrency, len(self.invocations)))

    @property
    def error_limit(self) -> int:
        return _absolute(self.max_errors, len(self.invocations))

    @property
    def done(self) -> bool:
        return all(inv.final is not None for inv in self.invocations)

    def errors(self) -> int:
        return sum(1 for inv in self.invocations if inv.counts_as_error)

    def invocation(self, instance_id: str) -> Invocation | None:
        return next((inv for inv in self.invocations if inv.instance_id == instance_id), None)

    def status(self, now: float) -> tuple[str, str]:
        """The command's overall status, aggregated from its invocations as Run Command does."""
        if not self.invocations:
            return (
                ("Pending", "Pending") if now < self.requested + DELIVERY_SECONDS else ("Success", "NoInstancesInTag")
            )
        if not self.done:
            begun = any(inv.phase(now)[0] != "Pending" for inv in self.invocations)
            return ("InProgress", "InProgress") if begun else ("Pending", "Pending")
        if self.cancelled:
            return "Cancelled", "Cancelled"
        return self._terminal_status()

    def _terminal_status(self) -> tuple[str, str]:
        finals = [inv.final for inv in self.invocations if inv.final is not None]
        if self.errors() > self.error_limit:
            timeouts = sum(1 for f in finals if f == ("TimedOut", "ExecutionTimedOut"))
            return ("TimedOut", "ExecutionTimedOut") if timeouts == self.errors() else ("Failed", "Failed")
        delivery_timeouts = sum(1 for f in finals if f == ("TimedOut", "DeliveryTimedOut"))
        if delivery_timeouts > self.error_limit:
            return "TimedOut", "DeliveryTimedOut"
        counted = [f for f in finals if f != ("Failed", "Undeliverable")]
        if not counted:
            return "Failed", "Failed"
        if all(f == ("Success", "Success") for f in counted):
            return "Success", "Success"
        return "Failed", "Incomplete"


def _absolute(limit: str, total: int) -> int:
    """MaxConcurrency / MaxErrors as a number of nodes ("10" or "10%" of the targets)."""
    if limit.endswith("%"):
        return int(total * int(limit[:-1]) / 100)
    return int(limit)


LIMIT_PATTERNS = {
    "maxConcurrency": r"([1-9][0-9]*|[1-9][0-9]%|[1-9]%|100%)",
    "maxErrors": r"([1-9][0-9]*|[0]|[1-9][0-9]%|[0-9]%|100%)",
}


def check_limit(field_name: str, value: str) -> None:
    pattern = LIMIT_PATTERNS[field_name]
    if len(value) > 7 or not re.fullmatch(pattern, value):
        raise constraint_error(field_name, value, f"satisfy regular expression pattern: ^{pattern}$")


@dataclass
class CommandStore:
    """The commands of one region, tied to the moto SSM backend they were sent to."""

    backend: Any
    commands: dict[str, Command] = field(default_factory=dict)
    active: dict[str, Command] = field(default_factory=dict)


def end(inv: Invocation, final: tuple[str, str], at: float, code: int, stdout: str = "", stderr: str = "") -> None:
    inv.final, inv.finished_at, inv.response_code = final, at, code
    inv.stdout, inv.stderr = stdout, stderr
