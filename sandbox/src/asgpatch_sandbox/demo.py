"""`make demo`: the real patch cycle against the local sandbox's demo account.

Starts `asgpatch sandbox --seed demo` (a believable account: scheduled groups at zero, a running
group, a MixedInstancesPolicy group, an untagged and an opted-out group), shows it, runs
`asgpatch plan` and `asgpatch run` exactly as a user would (as commands, with AWS_ENDPOINT_URL set),
then shows the account again: every tagged group launches a freshly patched image, capacity is back,
and the groups without the tag were not touched. Then the deployed form, on a fresh demo account:
`asgpatch deploy` creates the stack, only the sandbox clock moves to the window's start, and the window
alone starts the Step Functions execution whose Lambda ticks patch the same groups.
"""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

from rich.console import Console
from rich.table import Table

from asgpatch_sandbox.process import SandboxProcess

FAST_WORLD = ("--launch-seconds", "2", "--ssm-seconds", "1", "--patch-seconds", "3", "--image-seconds", "2")
console = Console()


def _tag(group: dict[str, Any], key: str) -> str:
    return next((t["Value"] for t in group.get("Tags", []) if t["Key"] == key), "—")


def _spec(group: dict[str, Any]) -> dict[str, str]:
    if "MixedInstancesPolicy" in group:
        return dict(group["MixedInstancesPolicy"]["LaunchTemplate"]["LaunchTemplateSpecification"])
    return dict(group.get("LaunchTemplate", {}))


def _image_launched(ec2: Any, spec: dict[str, str]) -> str:
    version = spec.get("Version", "$Default")
    found = ec2.describe_launch_template_versions(LaunchTemplateId=spec["LaunchTemplateId"], Versions=[version])
    return str(found["LaunchTemplateVersions"][0]["LaunchTemplateData"]["ImageId"])


def _last_result(group: dict[str, Any]) -> str:
    """`<run> <result> <ami> <time> [reason]` → `<result> <time>`."""
    parts = _tag(group, "asgpatch:last-result").split()
    return f"{parts[1]} {parts[3]}" if len(parts) >= 4 else "—"


def show_account(sandbox: SandboxProcess, title: str) -> None:
    autoscaling, ec2 = sandbox.client("autoscaling"), sandbox.client("ec2")
    table = Table(title=title)
    for column in ("group", "ep:asg:patch", "min/max/desired", "template version", "launches image", "last result"):
        table.add_column(column)
    for group in autoscaling.describe_auto_scaling_groups()["AutoScalingGroups"]:
        spec = _spec(group)
        mixed = " (mixed)" if "MixedInstancesPolicy" in group else ""
        table.add_row(
            group["AutoScalingGroupName"],
            _tag(group, "ep:asg:patch"),
            f"{group['MinSize']}/{group['MaxSize']}/{group['DesiredCapacity']}",
            f"{spec.get('LaunchTemplateName', '?')} {spec.get('Version', '$Default')}{mixed}",
            _image_launched(ec2, spec),
            _last_result(group),
        )
    console.print(table)


def asgpatch(sandbox: SandboxProcess, *args: str) -> int:
    console.rule(f"[bold]$ asgpatch {' '.join(args)}")
    command = [sys.executable, "-m", "asgpatch", *args]
    return subprocess.run(command, env=sandbox.environment(), check=False).returncode


def deployed(sandbox: SandboxProcess) -> int:
    """The deployed form: deploy, open the window on the sandbox clock, follow its execution."""
    import json

    from asgpatch_sandbox.driving import follow, history, open_window

    console.rule("[bold]$ asgpatch deploy --stack-name asgpatch-demo --output json")
    command = [sys.executable, "-m", "asgpatch", "deploy", "--stack-name", "asgpatch-demo", "--output", "json"]
    result = subprocess.run(command, env=sandbox.environment(), capture_output=True, text=True, check=False)
    if result.returncode != 0:
        console.print(result.stderr)
        return result.returncode
    outputs = json.loads(result.stdout)["outputs"]
    for key, value in outputs.items():
        console.print(f"  {key}: {value}")
    opened = open_window(sandbox, outputs["WindowId"])
    stamp = time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime(opened))
    console.print(f"moved the sandbox clock to the window's start, {stamp}: the window starts the run itself")
    done = follow(sandbox, outputs["StateMachineArn"])
    ticks = sum(1 for event in history(sandbox, done["executionArn"]) if event["type"] == "TaskStateEntered")
    console.print(f"execution {done['status']} after {ticks} Lambda ticks: {done.get('output') or done.get('cause')}")
    return 0 if done["status"] == "SUCCEEDED" else 1


def main() -> None:
    console.print("[bold]asgpatch demo[/]: starting the local sandbox with a demo account…")
    with SandboxProcess(*FAST_WORLD, "--seed", "demo") as sandbox:
        sandbox.wait_for_output("demo account seeded")
        console.print(f"sandbox at {sandbox.url} (AWS_ENDPOINT_URL); nothing here reaches AWS")
        show_account(sandbox, "Before: the demo account")
        asgpatch(sandbox, "plan")
        code = asgpatch(sandbox, "run", "--poll-seconds", "1")
        show_account(sandbox, "After: tagged groups launch the patched image; capacity is back")
    console.print(f"asgpatch run exited {code}; the sandbox stopped.")
    console.print(
        "[bold]The deployed form[/]: a fresh demo account, the stack deployed into it, the window on its clock…"
    )
    with SandboxProcess(*FAST_WORLD, "--seed", "demo") as sandbox:
        sandbox.wait_for_output("demo account seeded")
        window = deployed(sandbox)
        show_account(sandbox, "After the window: the deployed run patched the tagged groups")
    console.print(f"the deployed run {'succeeded' if window == 0 else 'failed'}; the sandbox stopped.")
    sys.exit(code or window)


if __name__ == "__main__":
    main()
