"""Which operations the sandbox answers at all, for the services it emulates.

An operation of Auto Scaling, EC2 or SSM that neither moto nor the sandbox implements gets AWS's
InvalidAction / UnknownOperationException instead of moto's HTML error page; other services go to
moto as they are, and the server makes any failure there a well-formed error.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from moto.core.utils import camelcase_to_underscores

from asgpatch_sandbox.protocol import AwsCall


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
    if service == "cloudformation":
        from moto.cloudformation.responses import CloudFormationResponse

        return CloudFormationResponse
    if service == "stepfunctions":
        from moto.stepfunctions.responses import StepFunctionResponse

        return StepFunctionResponse
    if service == "events":
        from moto.events.responses import EventsHandler

        return EventsHandler
    return None


def is_emulated(call: AwsCall) -> bool:
    """False for an operation of a service the sandbox covers that nothing answers."""
    cls = _response_class(call.service)
    if cls is None or not call.operation.isalnum():
        return True
    return hasattr(cls, camelcase_to_underscores(call.operation))
