"""(being written)"""

from __future__ import annotations

from asgpatch.sandbox.world import World


def install(world: World) -> None:
    return None
