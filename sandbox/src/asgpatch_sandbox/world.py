"""The state the sandbox keeps beside moto's, and the lazy clock-driven advance of it.

Nothing runs in the background: before each request the world catches up to the virtual clock
(instances finish booting, commands finish, images become available, scheduled actions fire).
Clients only ever observe the world through requests, so this is indistinguishable from a world
that changes on its own, and it makes time fully controllable.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from moto.core import DEFAULT_ACCOUNT_ID

from asgpatch_sandbox.clock import VirtualClock

FAILURE_TAG_PREFIX = "sandbox:"
# Set on moto's EC2 instance objects: when the instance became `running` on the sandbox clock.
RUNNING_SINCE = "sandbox_running_since"


@dataclass(frozen=True)
class Timings:
    """How long AWS takes, in sandbox seconds. Defaults keep a patch cycle of a few groups short."""

    launch_seconds: float = 3.0
    ssm_seconds: float = 2.0
    patch_seconds: float = 5.0
    image_seconds: float = 4.0


class Part(Protocol):
    """A service's own state beside moto's, caught up to the clock before every request."""

    def advance(self, region: str, now: float) -> None: ...


P = TypeVar("P", bound=Part)


class World:
    def __init__(self, clock: VirtualClock, timings: Timings, account_id: str = DEFAULT_ACCOUNT_ID) -> None:
        self.clock = clock
        self.timings = timings
        self.account_id = account_id
        self.regions: set[str] = {"us-east-1"}
        self.lock = threading.RLock()
        self.parts: list[Part] = []  # advanced in the order they were added
        self.url = ""  # the sandbox's own endpoint once it listens: for calls it makes to itself, off the lock

    def add(self, part: P) -> P:
        self.parts.append(part)
        return part

    def part(self, kind: type[P]) -> P:
        """The one part of that kind (each service adds its own once, at start)."""
        for part in self.parts:
            if isinstance(part, kind):
                return part
        raise LookupError(f"the sandbox world has no {kind.__name__}")

    def knows_region(self, region: str) -> bool:
        """moto raises KeyError for regions it does not know; such calls must not poison the world."""
        try:
            self.autoscaling(region)
        except KeyError:
            return False
        return True

    def advance(self) -> None:
        now = self.clock.now()
        for region in sorted(self.regions):
            for part in self.parts:
                part.advance(region, now)

    # moto backends, by region -------------------------------------------------------------
    def autoscaling(self, region: str) -> Any:
        from moto.autoscaling.models import autoscaling_backends

        return autoscaling_backends[self.account_id][region]

    def ec2(self, region: str) -> Any:
        from moto.ec2.models import ec2_backends

        return ec2_backends[self.account_id][region]

    def ssm(self, region: str) -> Any:
        from moto.ssm.models import ssm_backends

        return ssm_backends[self.account_id][region]


def group_failure(group: Any, kind: str) -> str | None:
    """The value of the group's `sandbox:<kind>` tag (fail, offline, hang), if any."""
    if group is None:
        return None
    key = FAILURE_TAG_PREFIX + kind
    for tag in group.tags:
        if tag.get("Key") == key:
            return str(tag.get("Value", ""))
    return None


def instance_group(instance: Any) -> Any:
    """The Auto Scaling group an EC2 instance belongs to, if it still does."""
    group = getattr(instance, "autoscaling_group", None)
    if group is None:
        return None
    if not any(state.instance is instance for state in group.instance_states):
        return None
    return group


_current: World | None = None


def install(world: World) -> None:
    global _current
    _current = world


def current() -> World:
    if _current is None:
        raise RuntimeError("the sandbox world is not installed")
    return _current
