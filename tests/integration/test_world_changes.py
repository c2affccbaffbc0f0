"""The world changing under a run: a second run, the patch tag removed, the group or its template
deleted, the patch instance terminated or stopped by someone (once: relaunched; twice: failed), the
deadline. The real CLI against the sandbox, each case twice: calm, and in a fault storm (20 % transient
500/503s and throttling), where the outcome and the invariants must be the same."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from asgpatch_sandbox.builders import base_image, group, launch_template
from asgpatch_sandbox.process import SandboxProcess

# The patch step is slow enough (6 s) to change the world while it runs.
WORLD = ("--launch-seconds", "1", "--ssm-seconds", "1", "--patch-seconds", "6", "--image-seconds", "4")


# Each world change also runs in a storm: 20 % of calls answered 500/503 and throttling on (issue 4's
# fault matrix). The test's own calls retry patiently; the CLI rides it out with its own retries.
STORM = ("--fault-rate", "0.2", "--reset-rate", "0.03", "--fault-seed", "11", "--throttle")
PATIENT = Config(retries={"mode": "standard", "total_max_attempts": 20})


@pytest.fixture(scope="module", params=[(), STORM], ids=["calm", "storm"])
def sandbox(request: pytest.FixtureRequest) -> Iterator[SandboxProcess]:
    with SandboxProcess(*WORLD, *request.param) as process:
        process.client_config = PATIENT
        yield process


def start(sandbox: SandboxProcess, *args: str, **env: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "asgpatch", *args, "--output", "json", "--poll-seconds", "0.5"]
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=sandbox.environment(**env)
    )


def finish(process: subprocess.Popen[str]) -> tuple[int, dict[str, dict[str, Any]]]:
    out, err = process.communicate(timeout=120)
    assert "Traceback" not in err, err
    return process.returncode, {g["name"]: g for g in json.loads(out)["groups"]}


def tags(sandbox: SandboxProcess, name: str) -> dict[str, str]:
    found = sandbox.client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[name])
    groups = found["AutoScalingGroups"]
    return {t["Key"]: t["Value"] for t in groups[0]["Tags"]} if groups else {}


def wait_for_phase(sandbox: SandboxProcess, name: str, phase: str, timeout: float = 60) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        current = tags(sandbox, name)
        if f"|{phase}|" in current.get("asgpatch:state", ""):
            return current
        time.sleep(0.2)
    raise AssertionError(f"{name} never reached {phase}: {tags(sandbox, name)}")


def describe(sandbox: SandboxProcess, name: str) -> dict[str, Any]:
    return dict(sandbox.client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[name])[
        "AutoScalingGroups"][0])  # fmt: skip


def assert_restored(sandbox: SandboxProcess, name: str, capacity: tuple[int, int, int]) -> None:
    found = describe(sandbox, name)
    assert (found["MinSize"], found["MaxSize"], found["DesiredCapacity"]) == capacity
    assert found["SuspendedProcesses"] == []
    assert not any(i["ProtectedFromScaleIn"] for i in found["Instances"])
    left = {t["Key"] for t in found["Tags"]}
    assert "asgpatch:state" not in left and "asgpatch:lease" not in left


def own_images(sandbox: SandboxProcess, name: str) -> list[dict[str, Any]]:
    """The images asgpatch baked for the group (named asgpatch-<group>-<run>)."""
    wanted = [{"Name": "name", "Values": [f"asgpatch-{name}-*"]}]
    return list(sandbox.client("ec2").describe_images(Owners=["self"], Filters=wanted)["Images"])


def make_group(sandbox: SandboxProcess, name: str, **kwargs: Any) -> str:
    ec2, autoscaling = sandbox.client("ec2"), sandbox.client("autoscaling")
    template = launch_template(ec2, f"lt-{name}", base_image(ec2, f"base-{name}"))
    group(autoscaling, name, template, version="1", tags={"ep:asg:patch": "true"}, **kwargs)
    return template


def in_flight(sandbox: SandboxProcess, name: str, phase: str, change: Callable[[], None]) -> tuple[int, dict]:
    run = start(sandbox, "run", "--asg", name)
    wait_for_phase(sandbox, name, phase)
    change()
    return finish(run)


def test_a_second_run_leaves_a_group_to_the_live_run(sandbox):
    make_group(sandbox, "lease-g")
    first = start(sandbox, "run", "--asg", "lease-g")
    holder = wait_for_phase(sandbox, "lease-g", "patching")["asgpatch:lease"].split()[0]
    code, second = finish(start(sandbox, "run", "--asg", "lease-g"))
    assert code == 0
    assert second["lease-g"]["status"] == "skipped"
    assert f"left to run {holder}" in second["lease-g"]["reason"]
    code, report = finish(first)
    assert code == 0 and report["lease-g"]["status"] == "patched"
    assert_restored(sandbox, "lease-g", (0, 2, 0))


def test_removing_the_patch_tag_mid_run_stops_and_restores(sandbox):
    make_group(sandbox, "untag-g")
    autoscaling = sandbox.client("autoscaling")

    def untag() -> None:
        autoscaling.delete_tags(Tags=[{"ResourceId": "untag-g", "ResourceType": "auto-scaling-group",
                                       "Key": "ep:asg:patch"}])  # fmt: skip

    code, report = in_flight(sandbox, "untag-g", "patching", untag)
    assert report["untag-g"]["status"] == "skipped"
    assert "was removed during the run" in report["untag-g"]["reason"]
    assert code == 0
    assert_restored(sandbox, "untag-g", (0, 2, 0))
    versions = sandbox.client("ec2").describe_launch_template_versions(LaunchTemplateName="lt-untag-g")
    assert len(versions["LaunchTemplateVersions"]) == 1


def patch_instance(sandbox: SandboxProcess, name: str) -> str:
    return tags(sandbox, name)["asgpatch:state"].split("|")[8]


def test_a_patch_instance_terminated_by_someone_is_relaunched_once(sandbox):
    make_group(sandbox, "kill-g")
    ec2 = sandbox.client("ec2")
    killed: list[str] = []

    def terminate() -> None:
        killed.append(patch_instance(sandbox, "kill-g"))
        ec2.terminate_instances(InstanceIds=killed)

    code, report = in_flight(sandbox, "kill-g", "patching", terminate)
    assert code == 0, report
    entry = report["kill-g"]
    assert entry["status"] == "patched"
    assert f"the patch instance {killed[0]} was lost while patching (terminated); launched another" in entry["reason"]
    assert entry["instance_id"] != killed[0], "the image was baked from the second instance"
    assert_restored(sandbox, "kill-g", (0, 2, 0))
    assert "launched another" in tags(sandbox, "kill-g")["asgpatch:last-result"]


def test_a_patch_instance_lost_twice_fails_the_group_and_restores_it(sandbox):
    make_group(sandbox, "kill2-g")
    ec2 = sandbox.client("ec2")
    run = start(sandbox, "run", "--asg", "kill2-g")
    wait_for_phase(sandbox, "kill2-g", "patching")
    first = patch_instance(sandbox, "kill2-g")
    ec2.terminate_instances(InstanceIds=[first])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # the relaunched instance reaches patching
        state = tags(sandbox, "kill2-g").get("asgpatch:state", "")
        if "|patching|" in state and state.split("|")[8] != first:
            break
        time.sleep(0.2)
    second = patch_instance(sandbox, "kill2-g")
    assert second != first
    ec2.stop_instances(InstanceIds=[second])
    code, report = finish(run)
    assert code == 1
    entry = report["kill2-g"]
    assert entry["status"] == "failed" and f"the patch instance {second} was lost while patching" in entry["reason"]
    assert "after 1 relaunch(es)" in entry["reason"]
    assert_restored(sandbox, "kill2-g", (0, 2, 0))
    assert own_images(sandbox, "kill2-g") == []


@pytest.mark.parametrize("crash", ["TerminateInstance:1", "ProtectInstance:2"])
def test_a_run_killed_during_a_relaunch_is_finished_by_the_next_one(sandbox, crash, request):
    """SIGKILL right after the lost instance is terminated for a replacement (before the relaunch is
    recorded), or right after the replacement is protected: the next run relaunches at most once more
    and patches the group with one image."""
    if "storm" in request.node.callspec.id:
        pytest.skip("a crash case: faults are the other cases' concern, and it costs 25 s a run")
    name = f"kill-crash-{crash.split(':')[0].lower()}"
    make_group(sandbox, name)
    run = start(sandbox, "run", "--asg", name, "--lease-seconds", "2", ASGPATCH_CRASH_AFTER=crash)
    wait_for_phase(sandbox, name, "patching")
    sandbox.client("ec2").terminate_instances(InstanceIds=[patch_instance(sandbox, name)])
    run.communicate(timeout=120)
    assert run.returncode == -9, f"the run was not killed at {crash}"
    time.sleep(2.5)  # the crashed run's lease expires

    code, report = finish(start(sandbox, "run", "--asg", name))
    assert code == 0 and report[name]["status"] == "patched", report[name]
    assert "launched another" in report[name]["reason"]
    assert_restored(sandbox, name, (0, 2, 0))
    assert len(own_images(sandbox, name)) == 1


def test_a_deleted_group_is_reported_and_its_image_cleaned_up(sandbox):
    make_group(sandbox, "gone-g")
    autoscaling = sandbox.client("autoscaling")
    code, report = in_flight(sandbox, "gone-g", "imaging",
                             lambda: autoscaling.delete_auto_scaling_group(AutoScalingGroupName="gone-g",
                                                                           ForceDelete=True))  # fmt: skip
    assert code == 1
    assert report["gone-g"]["status"] == "failed" and "no longer exists" in report["gone-g"]["reason"]
    assert own_images(sandbox, "gone-g") == [], "the image the run created for it is deregistered"


def test_a_deleted_launch_template_fails_the_group_and_restores_it(sandbox):
    make_group(sandbox, "nolt-g")
    ec2 = sandbox.client("ec2")
    code, report = in_flight(sandbox, "nolt-g", "imaging",
                             lambda: ec2.delete_launch_template(LaunchTemplateName="lt-nolt-g"))  # fmt: skip
    assert code == 1
    assert report["nolt-g"]["status"] == "failed" and "lt-" in report["nolt-g"]["reason"]
    assert_restored(sandbox, "nolt-g", (0, 2, 0))


def test_no_group_starts_after_the_deadline(sandbox):
    make_group(sandbox, "late-g")
    before = describe(sandbox, "late-g")
    code, report = finish(start(sandbox, "run", "--asg", "late-g", "--deadline", "2020-01-01T00:00:00Z"))
    assert code == 0
    assert report["late-g"]["status"] == "skipped" and "deadline" in report["late-g"]["reason"]
    after = describe(sandbox, "late-g")
    assert after == before, "a group that did not start is not touched (not even a lease)"


def test_the_weather_is_what_the_id_says(sandbox, request):
    """Guard against a quiet storm: without retries, the storm sandbox fails some calls, the calm one none."""
    raw = sandbox.client("autoscaling", config=Config(retries={"mode": "standard", "total_max_attempts": 1}))
    failures = 0
    for _ in range(100):
        try:
            raw.describe_auto_scaling_groups(MaxRecords=1)
        except (ClientError, BotoCoreError):  # a 500/503, throttling, or a dropped connection
            failures += 1
    # In the storm each call fails with p ≈ 0.22 (about 22 of 100); fewer than 8 is a 1-in-30,000 event,
    # and what a storm of a few per cent would give.
    stormy = "storm" in request.node.callspec.id
    assert (failures >= 8) if stormy else (failures == 0), failures
