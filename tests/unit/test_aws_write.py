"""Write paths the sandbox cannot show: AWS's "already gone" answers count as done, and the policy
rewrite for UseTemplateVersion names each template by id or by name, never both."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from botocore.exceptions import ClientError

from asgpatch.actions import DeregisterImage, SendPatchCommand, TerminateInstance
from asgpatch.aws.api import Api
from asgpatch.aws.errors import Caller
from asgpatch.aws.write import act
from asgpatch.aws.write_templates import repoint
from asgpatch.cloud import CloudError


class Failing:
    """A client whose every method raises the given AWS error."""

    def __init__(self, code: str, message: str) -> None:
        self.code, self.message = code, message
        self.meta = SimpleNamespace(method_to_api_mapping={})

    def __getattr__(self, name: str) -> Any:
        def method(**_: Any) -> Any:
            raise ClientError({"Error": {"Code": self.code, "Message": self.message}}, name)

        return method


def api_with(client: Failing) -> Api:
    clients = SimpleNamespace(autoscaling=client, ec2=client, ssm=client, sns=client, probe=client, ssm_once=client)
    return Api(clients, Caller(sleep=lambda _: None))  # type: ignore[arg-type]


def test_terminating_an_instance_that_already_left_is_done() -> None:
    gone = Failing("ValidationError", "Instance Id not found - No managed instance found for instance ID: i-0abc")
    assert act(api_with(gone), TerminateInstance("i-0abc", decrement=True)) is None


def test_other_termination_errors_surface() -> None:
    refused = Failing("ValidationError", "The instance i-0abc is in Standby")
    with pytest.raises(CloudError):
        act(api_with(refused), TerminateInstance("i-0abc", decrement=True))


@pytest.mark.parametrize("code", ["InvalidAMIID.NotFound", "InvalidAMIID.Unavailable"])
def test_deregistering_an_image_that_is_gone_is_done(code: str) -> None:
    assert act(api_with(Failing(code, "no such image")), DeregisterImage("ami-0abc")) is None


def test_repoint_changes_every_spec_of_the_template_and_names_each_once() -> None:
    by_name = {"LaunchTemplateName": "a", "Version": "1"}
    other = {"LaunchTemplateId": "lt-b", "LaunchTemplateName": "b"}
    policy = {
        "LaunchTemplate": {
            "LaunchTemplateSpecification": {"LaunchTemplateId": "lt-a", "LaunchTemplateName": "a", "Version": "3"},
            "Overrides": [
                {"InstanceType": "t3.micro"},
                {"InstanceType": "t3.small", "LaunchTemplateSpecification": by_name},
                {"InstanceType": "m5.large", "LaunchTemplateSpecification": other},
            ],
        },
        "InstancesDistribution": {"OnDemandBaseCapacity": 1},
    }

    updated = repoint(policy, "lt-a", "a", "7")

    template = updated["LaunchTemplate"]
    assert template["LaunchTemplateSpecification"] == {"LaunchTemplateId": "lt-a", "Version": "7"}
    assert template["Overrides"][0] == {"InstanceType": "t3.micro"}
    assert template["Overrides"][1]["LaunchTemplateSpecification"] == {"LaunchTemplateName": "a", "Version": "7"}
    assert template["Overrides"][2]["LaunchTemplateSpecification"] == {"LaunchTemplateId": "lt-b"}
    assert updated["InstancesDistribution"] == {"OnDemandBaseCapacity": 1}
    assert policy["LaunchTemplate"]["LaunchTemplateSpecification"]["Version"] == "3"  # type: ignore[index]


class LossySsm:
    """SendCommand whose answers are lost: `outcomes` says, per call, whether the command was created
    ("created": it exists, the answer is lost), "refused" (a 503 before any effect) or "ok"."""

    def __init__(self, *outcomes: str) -> None:
        self.outcomes = list(outcomes)
        self.commands: list[dict[str, Any]] = []
        self.meta = SimpleNamespace(method_to_api_mapping={"send_command": "SendCommand"})

    def send_command(self, **params: Any) -> dict[str, Any]:
        outcome = self.outcomes.pop(0)
        if outcome != "refused":
            number = len(self.commands) + 1
            created = {"CommandId": f"c-{number}", "RequestedDateTime": str(number)}
            self.commands.append({**created, "Comment": params["Comment"], "DocumentName": params["DocumentName"]})
        if outcome == "ok":
            return {"Command": self.commands[-1]}
        raise ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "lost"}}, "SendCommand")

    def list_commands(self, **params: Any) -> dict[str, Any]:
        return {"Commands": list(self.commands)}


def send_with(ssm: LossySsm) -> tuple[str | int | None, list[float]]:
    slept: list[float] = []
    clients = SimpleNamespace(ssm=ssm, ssm_once=ssm)
    api = Api(clients, Caller(sleep=slept.append, jitter=lambda: 0.5))  # type: ignore[arg-type]
    action = SendPatchCommand("i-0abc", "Install", "RebootIfNeeded", "asgpatch r1 web", 600)
    return act(api, action), slept


def test_a_patch_command_whose_answer_was_lost_is_found_not_sent_again() -> None:
    ssm = LossySsm("created")
    command, slept = send_with(ssm)
    assert command == "c-1" and len(ssm.commands) == 1 and len(slept) == 1


def test_a_patch_command_an_earlier_tick_sent_is_found_not_sent_again() -> None:
    """The earlier tick's last try landed and its answer was lost; the engine looked again and asks
    once more: the command is found by its comment before anything is sent."""
    ssm = LossySsm()
    ssm.commands.append({"CommandId": "c-1", "RequestedDateTime": "1", "Comment": "asgpatch r1 web",
                         "DocumentName": "AWS-RunPatchBaseline"})  # fmt: skip
    command, slept = send_with(ssm)
    assert command == "c-1" and len(ssm.commands) == 1 and slept == []


def test_a_patch_command_refused_before_any_effect_is_sent_again() -> None:
    ssm = LossySsm("refused", "refused", "ok")
    command, slept = send_with(ssm)
    assert command == "c-1" and len(ssm.commands) == 1
    assert slept == [0.75, 1.5], "exponential backoff with jitter, on the injected sleep"


def test_a_patch_command_refused_for_good_surfaces_at_once() -> None:
    refused = Failing("InvalidInstanceId", "not a managed node")
    api = api_with(refused)
    with pytest.raises(CloudError, match="InvalidInstanceId"):
        act(api, SendPatchCommand("i-0abc", "Install", "RebootIfNeeded", "asgpatch r1 web", 600))
