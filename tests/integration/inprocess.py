"""The engine in this process against a sandbox, on the sandbox's clock, with every request it sends
captured: for checks that need the requests themselves (the boto3 minimum, the IAM policy)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from asgpatch.aws import AwsCloud, connect
from asgpatch_sandbox.process import SandboxProcess

Request = tuple[str, str, dict[str, Any]]  # (service, operation, parameters)


class SandboxClock:
    """The engine's clock is the sandbox's: a poll moves it forward, so a whole cycle takes no waiting."""

    def __init__(self, sandbox: SandboxProcess) -> None:
        self.sandbox = sandbox

    def now(self) -> float:
        return self.sandbox.now()

    def sleep(self, seconds: float) -> None:
        self.sandbox.advance(seconds)


RESOURCE_TAGS = "_resource_tags"  # in a captured request: the tags its resource had when it was sent


def resource_tags(
    sandbox: SandboxProcess, region: str, operation: str, params: dict[str, Any]
) -> dict[str, str] | None:
    """The tags IAM reads as ec2:ResourceTag/… for calls whose policy has such a condition: the source
    instance of CreateImage, the image DeregisterImage removes (read just before the call is sent)."""
    ec2 = sandbox.client("ec2", region=region)
    if operation == "CreateImage":
        found = ec2.describe_instances(InstanceIds=[params["InstanceId"]])["Reservations"][0]["Instances"][0]
    elif operation == "DeregisterImage":
        images = ec2.describe_images(ImageIds=[params["ImageId"]])["Images"]
        if not images:
            return {}
        found = images[0]
    else:
        return None
    return {tag["Key"]: tag["Value"] for tag in found.get("Tags", [])}


def capturing_cloud(
    sandbox: SandboxProcess, region: str = "us-east-1", seen: list[Request] | None = None, with_tags: bool = False
) -> tuple[AwsCloud, SandboxClock, list[Request]]:
    """An AwsCloud on the sandbox in `region` whose every request is appended, as sent, to the list returned
    (`seen`, when given); `with_tags` adds to some the tags of their resource (`RESOURCE_TAGS`, below)."""
    seen = [] if seen is None else seen
    with pytest.MonkeyPatch.context() as environment:
        environment.setenv("AWS_ACCESS_KEY_ID", "testing")
        environment.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        clients = connect(region=region, profile=None, endpoint_url=sandbox.url)
    for client in (clients.autoscaling, clients.ec2, clients.ssm, clients.sns, clients.ssm_once, clients.elbv2,
                   clients.elb, clients.probe, clients.s3):  # fmt: skip
        service = client.meta.service_model.service_name

        def capture(params: dict[str, Any], model: Any, service: str = service, **_: Any) -> None:
            recorded = json.loads(json.dumps(params, default=str))
            tags = resource_tags(sandbox, region, model.name, params) if with_tags else None
            if tags is not None:
                recorded[RESOURCE_TAGS] = tags
            seen.append((service, model.name, recorded))

        client.meta.events.register("provide-client-params", capture)
    return AwsCloud(clients, sleep=lambda _: None), SandboxClock(sandbox), seen
