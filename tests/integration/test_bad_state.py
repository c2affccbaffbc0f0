"""Bad state on a group (issue 4): a corrupt or hand-edited `asgpatch:state` tag, one from a newer
asgpatch, and min/max changed by someone while the group was in flight. The real CLI against the
sandbox: a clear reason in the report, the group restored as safely as the tag allows, never a traceback.

Each case leaves its group in flight the way a crash does (the CLI kills itself after sending the patch
command, holding a 2-second lease), changes the group as a person or another tool would, and runs again.
An edited tag no longer matches its seal (seal.py), so a run leaves the group exactly as it is; the
operator's `recover --asg NAME` is what restores it from the edited tag.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest

from asgpatch.seal import seal
from asgpatch_sandbox.builders import base_image, describe_group, group, launch_template
from asgpatch_sandbox.process import SandboxProcess
from tests.integration.cli import QUICK_WORLD, cli, entry_of, group_tags, wait_for_lease_expiry
from tests.schemas import assert_matches_schema

QUICK_RUN = ("--poll-seconds", "0.5", "--output", "json", "--launch-timeout", "60", "--ssm-timeout", "60",
             "--patch-timeout", "60", "--image-timeout", "60")  # fmt: skip
STATE_TAG, LEASE_TAG, RESULT_TAG = "asgpatch:state", "asgpatch:lease", "asgpatch:last-result"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxProcess]:
    with SandboxProcess(*QUICK_WORLD) as process:
        yield process


def make_group(sandbox: SandboxProcess, name: str, capacity: tuple[int, int, int] = (0, 2, 0)) -> None:
    ec2, autoscaling = sandbox.client("ec2"), sandbox.client("autoscaling")
    template = launch_template(ec2, f"lt-{name}", base_image(ec2, f"base-{name}"))
    low, high, desired = capacity
    group(autoscaling, name, template, min_size=low, max_size=high, desired=desired, tags={"ep:asg:patch": "true"})
    if desired:
        sandbox.advance(5)  # the serving instances come up


def leave_in_flight(sandbox: SandboxProcess, name: str) -> str:
    """Crash a run right after it sent the patch command; returns the state tag it left."""
    crashed = cli(sandbox, "run", *QUICK_RUN, "--asg", name, "--lease-seconds", "2",
                  env={"ASGPATCH_CRASH_AFTER": "SendPatchCommand:1"})  # fmt: skip
    assert crashed.returncode == -9, crashed.stderr
    wait_for_lease_expiry(sandbox, name)
    return group_tags(sandbox, name)[STATE_TAG]


def set_state(sandbox: SandboxProcess, name: str, value: str) -> None:
    sandbox.client("autoscaling").create_or_update_tags(Tags=[{
        "ResourceId": name, "ResourceType": "auto-scaling-group", "Key": STATE_TAG, "Value": value,
        "PropagateAtLaunch": False}])  # fmt: skip


def run(sandbox: SandboxProcess, name: str, command: str = "run") -> tuple[int, dict[str, Any]]:
    result = cli(sandbox, command, *QUICK_RUN, "--asg", name)
    assert_matches_schema(json.loads(result.stdout), "report")
    return result.returncode, entry_of(result, name)


def shape(sandbox: SandboxProcess, name: str) -> tuple[tuple[int, int, int], set[str], bool]:
    """(min/max/desired, suspended processes, any instance protected)."""
    found = describe_group(sandbox.client("autoscaling"), name)
    capacity = (found["MinSize"], found["MaxSize"], found["DesiredCapacity"])
    suspended = {p["ProcessName"] for p in found["SuspendedProcesses"]}
    return capacity, suspended, any(i["ProtectedFromScaleIn"] for i in found["Instances"])


def without_lease(tags: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in tags.items() if k != LEASE_TAG}


def refused_by_a_run(sandbox: SandboxProcess, name: str) -> None:
    """A run (and a recover that does not name the group) reports the edited tag and changes nothing."""
    before = describe_group(sandbox.client("autoscaling"), name)
    for command in ("run", "recover"):
        result = cli(sandbox, command, *QUICK_RUN)
        assert result.returncode == 1, result.stderr
        entry = entry_of(result, name)
        assert entry["status"] == "failed" and "does not match its asgpatch:seal" in entry["reason"]
        assert f"asgpatch recover --asg {name}" in entry["reason"]
    assert describe_group(sandbox.client("autoscaling"), name) == before, "the group is left exactly as it was"


def test_a_hand_edited_phase_is_restored_from_the_fields_that_can_be_read_by_recover_asg(sandbox):
    name = "edited-phase"
    make_group(sandbox, name)
    fields = leave_in_flight(sandbox, name).split("|")
    assert fields[2] == "patching"
    fields[2] = "PAUSED by ops"
    set_state(sandbox, name, "|".join(fields))
    refused_by_a_run(sandbox, name)

    code, entry = run(sandbox, name, "recover")
    assert code == 1 and entry["status"] == "failed"
    assert "unreadable asgpatch:state tag" in entry["reason"] and "restored from the fields" in entry["reason"]
    assert "could not read" not in entry["reason"]
    assert shape(sandbox, name) == ((0, 2, 0), set(), False)
    tags = group_tags(sandbox, name)
    assert STATE_TAG not in tags and LEASE_TAG not in tags
    assert tags[RESULT_TAG].split()[1] == "failed"


def test_a_hand_edited_capacity_that_is_not_min_desired_max_is_repaired_upward(sandbox):
    name = "edited-capacity"
    make_group(sandbox, name)
    fields = leave_in_flight(sandbox, name).split("|")
    fields[3] = "2,1,0"  # min above max: someone typed it in the wrong order
    set_state(sandbox, name, "|".join(fields))
    refused_by_a_run(sandbox, name)

    code, entry = run(sandbox, name, "recover")
    assert code == 1 and entry["status"] == "failed"
    assert "recorded capacity 2,1,0 is not min,max,desired" in entry["reason"] and "used 1/2/1" in entry["reason"]
    assert shape(sandbox, name) == ((1, 2, 1), set(), False), "never smaller than either recorded limit allows"
    assert STATE_TAG not in group_tags(sandbox, name)


def test_a_tag_nothing_can_be_read_from_is_kept_and_reported_by_every_run(sandbox):
    name = "garbage-state"
    make_group(sandbox, name)
    leave_in_flight(sandbox, name)
    set_state(sandbox, name, "see ticket OPS-1234")
    before = shape(sandbox, name)
    assert before[0] == (1, 2, 1) and "ScheduledActions" in before[1]
    refused_by_a_run(sandbox, name)

    for _ in range(2):
        code, entry = run(sandbox, name, "recover")
        assert code == 1 and entry["status"] == "failed"
        assert "could not read its capacity (left as it is)" in entry["reason"]
        assert "delete the asgpatch:state tag" in entry["reason"]
        assert shape(sandbox, name)[:2] == before[:2], "what could not be read is left as it is"
        tags = group_tags(sandbox, name)
        assert tags[STATE_TAG] == "see ticket OPS-1234" and LEASE_TAG not in tags


def test_a_state_from_a_newer_asgpatch_is_left_untouched(sandbox):
    """A newer asgpatch seals with the same key: the seal verifies, and the format is what refuses it."""
    name = "newer-state"
    make_group(sandbox, name)
    fields = leave_in_flight(sandbox, name).split("|")
    newer = "|".join(["4", *fields[1:], "a-field-from-the-future"])
    set_state(sandbox, name, newer)
    key = sandbox.client("ssm").get_parameter(Name="/asgpatch/state-key", WithDecryption=True)["Parameter"]["Value"]
    sealed = seal(base64.b64decode(key), name, newer, group_tags(sandbox, name).get("asgpatch:reason", ""))
    sandbox.client("autoscaling").create_or_update_tags(Tags=[{
        "ResourceId": name, "ResourceType": "auto-scaling-group", "Key": "asgpatch:seal", "Value": sealed,
        "PropagateAtLaunch": False}])  # fmt: skip
    before = describe_group(sandbox.client("autoscaling"), name)

    code, entry = run(sandbox, name)
    assert code == 1 and entry["status"] == "failed"
    assert "written by a newer asgpatch (state format 4 is newer" in entry["reason"]
    after = describe_group(sandbox.client("autoscaling"), name)
    assert {k: v for k, v in after.items() if k != "Tags"} == {k: v for k, v in before.items() if k != "Tags"}
    assert without_lease(group_tags(sandbox, name)) == without_lease({t["Key"]: t["Value"] for t in before["Tags"]})


def test_min_max_changed_by_someone_while_in_flight_are_kept(sandbox):
    name = "changed-limits"
    make_group(sandbox, name, (1, 3, 2))
    leave_in_flight(sandbox, name)
    assert shape(sandbox, name)[0] == (1, 3, 3)
    sandbox.client("autoscaling").update_auto_scaling_group(AutoScalingGroupName=name, MinSize=0, MaxSize=2,
                                                            DesiredCapacity=2)  # fmt: skip

    code, entry = run(sandbox, name)
    assert code == 0 and entry["status"] == "patched", entry["reason"]
    assert "min/max changed to 0/2 during the run (recorded 1/3): kept them" in entry["reason"]
    assert shape(sandbox, name) == ((0, 2, 1), set(), False)
    assert STATE_TAG not in group_tags(sandbox, name)
