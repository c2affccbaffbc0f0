"""`make demo`: the real patch cycle against the local sandbox's demo account.

Starts `asgpatch sandbox --seed demo` (a believable account: scheduled groups at zero, a running
group, a MixedInstancesPolicy group, an untagged and an opted-out group), shows it, runs
`asgpatch plan` and `asgpatch run` exactly as a user would (as commands, with AWS_ENDPOINT_URL set),
then shows the account again: every tagged group launches a freshly patched image, capacity is back,
and the groups without the tag were not touched.
"""

from __future__ import annotations

import subprocess
import sys
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
    sys.exit(code)


if __name__ == "__main__":
    main()
