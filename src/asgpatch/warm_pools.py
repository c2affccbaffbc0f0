"""A group's warm pool, in the pure phase logic: which warm instances hold another image than the group's.

A warm pool instance keeps the image it was launched with, and a scale-out takes warm instances before
it launches anything. So a pool can hand asgpatch a patch instance from an older image than the one the
group launches (a template changed since the pool was filled), and, after a patch, hand the morning's
scale-up the unpatched image. Auto Scaling replaces a warm instance that is terminated from the version
the group uses at that moment; terminating those that differ is AWS's own remedy ("existing instances
are not affected" by a new launch template version).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from asgpatch.actions import TerminateInstance
from asgpatch.model import WarmInstance

LEAVING_POOL = ("Warmed:Terminating", "Warmed:Terminated")


class Stale(NamedTuple):
    """Warm instances on another image than `image`: to be replaced, and those EC2 did not describe yet."""

    instance_ids: tuple[str, ...] = ()
    unknown: tuple[str, ...] = ()

    @property
    def settled(self) -> bool:
        return not self.instance_ids and not self.unknown

    def replace(self) -> tuple[TerminateInstance, ...]:
        """Terminate them, the group's desired capacity unchanged: the pool refills from the current version."""
        return tuple(TerminateInstance(instance_id, decrement=False) for instance_id in self.instance_ids)


def stale(warm: Sequence[WarmInstance] | None, image: str | None) -> Stale:
    if not warm or not image:
        return Stale()
    staying = [w for w in warm if not w.lifecycle.startswith(LEAVING_POOL)]
    return Stale(
        tuple(w.instance_id for w in staying if w.image_id is not None and w.image_id != image),
        tuple(w.instance_id for w in staying if w.image_id is None),
    )
