"""`make demo`: start the sandbox with the demo account and show it.

Until the patch cycle lands this is a tour of the sandbox: the seeded account, an instance booting
(Pending → InService), SSM registration and a patch-baseline run, an image being baked.
"""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.table import Table

from asgpatch.sandbox.process import SandboxProcess

FAST_WORLD = ("--launch-seconds", "2", "--ssm-seconds", "1", "--patch-seconds", "2", "--image-seconds", "2")
console = Console()


def _tag(group: dict[str, Any], key: str) -> str:
    return next((t["Value"] for t in group.get("Tags", []) if t["Key"] == key), "—")


def _template_ref(group: dict[str, Any]) -> str:
    if "MixedInstancesPolicy" in group:
        spec = group["MixedInstancesPolicy"]["LaunchTemplate"]["LaunchTemplateSpecification"]
        return f"{spec['LaunchTemplateName']} {spec.get('Version', '$Default')} (mixed)"
    spec = group.get("LaunchTemplate", {})
    return f"{spec.get('LaunchTemplateName', '?')} {spec.get('Version', '$Default')}"


def show_account(autoscaling: Any) -> None:
    table = Table(title="Demo account (sandbox, us-east-1)")
    for column in ("group", "ep:asg:patch", "min/max/desired", "launch template", "scheduled actions", "instances"):
        table.add_column(column)
    for group in autoscaling.describe_auto_scaling_groups()["AutoScalingGroups"]:
        actions = autoscaling.describe_scheduled_actions(AutoScalingGroupName=group["AutoScalingGroupName"])
        schedule = ", ".join(
            f"{a['ScheduledActionName']} {a.get('Recurrence', '')}" for a in actions["ScheduledUpdateGroupActions"]
        )
        table.add_row(
            group["AutoScalingGroupName"],
            _tag(group, "ep:asg:patch"),
            f"{group['MinSize']}/{group['MaxSize']}/{group['DesiredCapacity']}",
            _template_ref(group),
            schedule or "—",
            ", ".join(f"{i['InstanceId']} {i['LifecycleState']}" for i in group["Instances"]) or "—",
        )
    console.print(table)


def _wait(description: str, check: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    with console.status(description):
        while time.monotonic() < deadline:
            result = check()
            if result:
                return result
            time.sleep(0.5)
    raise SystemExit(f"demo: timed out waiting: {description}")


def tour(sandbox: SandboxProcess) -> None:
    autoscaling, ssm = sandbox.client("autoscaling"), sandbox.client("ssm")
    show_account(autoscaling)
    running = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["api-internal"])["AutoScalingGroups"][0]
    instance_id = running["Instances"][0]["InstanceId"]
    console.print(f"api-internal launched [bold]{instance_id}[/]: {running['Instances'][0]['LifecycleState']}")

    def in_service() -> bool:
        group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["api-internal"])["AutoScalingGroups"][0]
        return group["Instances"][0]["LifecycleState"] == "InService"

    _wait("instance booting (Pending → InService)", in_service)
    console.print(f"{instance_id} is InService")

    def online() -> bool:
        info = ssm.describe_instance_information(Filters=[{"Key": "InstanceIds", "Values": [instance_id]}])
        return any(i["PingStatus"] == "Online" for i in info["InstanceInformationList"])

    _wait("SSM agent registering", online)
    console.print(f"{instance_id} is Online in SSM")
    command = ssm.send_command(
        InstanceIds=[instance_id], DocumentName="AWS-RunPatchBaseline", Parameters={"Operation": ["Scan"]}
    )["Command"]

    def finished() -> dict[str, Any] | None:
        answer = ssm.get_command_invocation(CommandId=command["CommandId"], InstanceId=instance_id)
        return answer if answer["Status"] not in ("Pending", "InProgress", "Delayed") else None

    result = _wait("AWS-RunPatchBaseline Scan running", finished)
    console.print(f"patch scan: {result['Status']}")
    states = ssm.describe_instance_patch_states(InstanceIds=[instance_id])["InstancePatchStates"]
    if states:
        console.print(f"missing patches on {instance_id}: {states[0]['MissingCount']}")


def main() -> None:
    console.print("[bold]asgpatch demo[/]: starting the sandbox with the demo account…")
    with SandboxProcess(*FAST_WORLD, "--seed", "demo") as sandbox:
        sandbox.wait_for_output("demo account seeded")
        console.print(f"sandbox at {sandbox.url}")
        tour(sandbox)
    console.print("done: the sandbox stopped.")


if __name__ == "__main__":
    main()
