"""Which OS patches exist, and how far each image and instance is patched.

AWS publishes patches over time; the sandbox models that as a counter (the catalog level). An image
carries the level it was baked at (registered base images: 0), an instance starts at its image's
level, and a successful AWS-RunPatchBaseline Install brings it to the catalog level. So an instance
launched from an image baked after a patch finds nothing new to install, until more are published.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

INITIAL_PATCHES = 12
LEVEL_ATTRIBUTE = "sandbox_patch_level"


@dataclass
class PatchCatalog:
    level: int = INITIAL_PATCHES

    def publish(self, count: int = 1) -> int:
        self.level += count
        return self.level

    def advance(self, region: str, now: float) -> None:
        """Patches are published on request (POST /_sandbox/patches), never by time alone."""


def image_level(ec2_backend: Any, image_id: str | None) -> int:
    image = ec2_backend.amis.get(image_id) if image_id else None
    return int(getattr(image, LEVEL_ATTRIBUTE, 0)) if image is not None else 0


def instance_level(ec2_backend: Any, instance: Any) -> int:
    level = getattr(instance, LEVEL_ATTRIBUTE, None)
    if level is None:
        level = image_level(ec2_backend, getattr(instance, "image_id", None))
        setattr(instance, LEVEL_ATTRIBUTE, level)
    return int(level)


def set_instance_level(instance: Any, level: int) -> None:
    setattr(instance, LEVEL_ATTRIBUTE, level)


def set_image_level(image: Any, level: int) -> None:
    setattr(image, LEVEL_ATTRIBUTE, level)
