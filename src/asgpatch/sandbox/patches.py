"""Installs every realism layer onto moto, and tells which operations are emulated at all."""

from __future__ import annotations

from functools import cache
from typing import Any

from moto.core.utils import camelcase_to_underscores

from asgpatch.sandbox.protocol import AwsCall
from asgpatch.sandbox.world import World, install


def install_all(world: World) -> None:
    from asgpatch.sandbox import autoscaling, health, images, refresh, scheduled, ssm, templates
    from asgpatch.sandbox.patchlevel import PatchCatalog

    install(world)
    world.patches = PatchCatalog()  # type: ignore[attr-defined]
    autoscaling.install(world)
    health.install(world)
    scheduled.install(world)
    refresh.install(world)
    images.install(world)
    templates.install(world)
    ssm.install(world)


@cache
def _response_class(service: str) -> Any:
    if service == "autoscaling":
        from moto.autoscaling.responses import AutoScalingResponse

        return AutoScalingResponse
    if service == "ec2":
        from moto.ec2.responses import EC2Response

        return EC2Response
    if service == "ssm":
        from moto.ssm.responses import SimpleSystemManagerResponse

        return SimpleSystemManagerResponse
    return None


def is_emulated(call: AwsCall) -> bool:
    """False for an operation of a service the sandbox covers that nothing answers; other services
    go to moto, whose failures are turned into well-formed errors by the server."""
    cls = _response_class(call.service)
    if cls is None or not call.operation.isalnum():
        return True
    return hasattr(cls, camelcase_to_underscores(call.operation))
