"""The sandbox's command line (`python -m asgpatch_sandbox`, `asgpatch-sandbox`): bad input, a busy
port, and the demo seed."""

from __future__ import annotations

import subprocess
import sys

from asgpatch_sandbox.process import SandboxProcess


def _run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "asgpatch_sandbox", *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def test_bad_options_exit_2_with_one_message_and_no_traceback():
    for args in (["--port", "70000"], ["--fault-rate", "2"], ["--seed", "nope"], ["--launch-seconds", "-1"]):
        result = _run(*args)
        assert result.returncode == 2, args
        assert "Traceback" not in result.stderr
        assert "Error:" in result.stderr
        assert "Usage: asgpatch-sandbox" in result.stderr


def test_a_busy_port_is_one_clear_error():
    with SandboxProcess() as first:
        port = first.url.rsplit(":", 1)[1]
        result = _run("--port", port)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: cannot listen on 127.0.0.1:{port}: Address already in use")


def test_demo_seed_creates_the_believable_account():
    with SandboxProcess("--seed", "demo") as sandbox:
        sandbox.wait_for_output("demo account seeded")
        autoscaling = sandbox.client("autoscaling")
        groups = {g["AutoScalingGroupName"]: g for g in autoscaling.describe_auto_scaling_groups()["AutoScalingGroups"]}
        tags = {name: {t["Key"]: t["Value"] for t in g["Tags"]} for name, g in groups.items()}
        tagged = autoscaling.describe_auto_scaling_groups(Filters=[{"Name": "tag:ep:asg:patch", "Values": ["true"]}])[
            "AutoScalingGroups"
        ]

        assert {g["AutoScalingGroupName"] for g in tagged} == {
            "web-frontend-nightly", "batch-reports", "api-internal", "workers-mixed"
        }  # fmt: skip
        assert "ep:asg:patch" not in tags["legacy-untagged"]
        assert tags["analytics-opted-out"]["ep:asg:patch"] == "false"
        assert groups["web-frontend-nightly"]["DesiredCapacity"] == 0
        assert groups["api-internal"]["DesiredCapacity"] == 1
        assert "MixedInstancesPolicy" in groups["workers-mixed"]
        versions = {g.get("LaunchTemplate", {}).get("Version") for g in groups.values()}
        assert {"1", "$Latest", "$Default"} <= versions
        actions = autoscaling.describe_scheduled_actions(AutoScalingGroupName="web-frontend-nightly")
        assert {a["ScheduledActionName"] for a in actions["ScheduledUpdateGroupActions"]} == {"scale-up", "scale-down"}
        template = sandbox.client("ec2").describe_launch_template_versions(
            LaunchTemplateName="web-frontend", Versions=["1"]
        )["LaunchTemplateVersions"][0]["LaunchTemplateData"]
        assert template["UserData"] and template["IamInstanceProfile"]["Name"]
