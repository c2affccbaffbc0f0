"""A state tag is a claim, not a command (issue 9, item 13): the real CLI against its own sandbox.

Whoever may tag a group can write `asgpatch:state`; asgpatch obeys one only when its `asgpatch:seal`
verifies (seal.py) — asgpatch wrote it, on that group — or when an operator names the group in
`recover --asg`. The scenario is an account where a run was killed mid-cycle, and then someone copied
that group's genuine state tags to a running tagged group, and hand-wrote a state on an untagged one
that says "restore me to 0/0/0".
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from asgpatch.model import Capacity, Job, Phase
from asgpatch.state import encode, reason_value
from asgpatch_sandbox.builders import base_image, describe_group, group, launch_template
from asgpatch_sandbox.process import SandboxProcess
from tests.integration.cli import QUICK_WORLD, cli, entry_of, group_tags, report_of, wait_for_lease_expiry

QUICK_RUN = ("--poll-seconds", "0.5", "--output", "json", "--launch-timeout", "60", "--ssm-timeout", "60",
             "--patch-timeout", "60", "--image-timeout", "60")  # fmt: skip
OWN = ("asgpatch:state", "asgpatch:reason", "asgpatch:seal")
KEY = "/asgpatch/state-key"


@pytest.fixture(scope="module")
def account() -> Iterator[SandboxProcess]:
    """A fresh sandbox: the state key does not exist until a run creates it."""
    with SandboxProcess(*QUICK_WORLD) as process:
        ec2, autoscaling = process.client("ec2"), process.client("autoscaling")
        image = base_image(ec2, "seal-base")
        for name, capacity, tags in (
            ("seal-web", (0, 2, 0), {"ep:asg:patch": "true"}),
            ("seal-api", (1, 3, 2), {"ep:asg:patch": "true", "team": "payments"}),
            ("seal-batch", (1, 2, 1), {"team": "data"}),
            ("seal-old", (0, 2, 0), {"ep:asg:patch": "true"}),
        ):
            low, high, desired = capacity
            template = launch_template(ec2, f"lt-{name}", image)
            group(autoscaling, name, template, min_size=low, max_size=high, desired=desired, tags=tags)
        process.advance(5)  # serving instances come up
        yield process


def crash_mid_cycle(sandbox: SandboxProcess, name: str) -> dict[str, str]:
    crashed = cli(sandbox, "run", *QUICK_RUN, "--asg", name, "--lease-seconds", "2",
                  env={"ASGPATCH_CRASH_AFTER": "SendPatchCommand:1"})  # fmt: skip
    assert crashed.returncode == -9, crashed.stderr
    wait_for_lease_expiry(sandbox, name)
    return group_tags(sandbox, name)


def put_tags(sandbox: SandboxProcess, name: str, tags: dict[str, str]) -> None:
    sandbox.client("autoscaling").create_or_update_tags(Tags=[
        {"ResourceId": name, "ResourceType": "auto-scaling-group", "Key": k, "Value": v, "PropagateAtLaunch": False}
        for k, v in tags.items()])  # fmt: skip


def snapshot(sandbox: SandboxProcess, name: str) -> dict[str, Any]:
    """Everything a user would see of the group: its description (capacity, processes, instances and
    their protection, tags) and its instances' EC2 states."""
    found = describe_group(sandbox.client("autoscaling"), name)
    ids = [i["InstanceId"] for i in found["Instances"]]
    reservations = sandbox.client("ec2").describe_instances(InstanceIds=ids)["Reservations"] if ids else []
    states = {i["InstanceId"]: i["State"]["Name"] for r in reservations for i in r["Instances"]}
    return {"group": found, "instances": states}


def test_plan_reads_only_and_the_first_run_creates_the_key(account):
    ssm = account.client("ssm")
    assert cli(account, "plan", *QUICK_RUN).returncode == 0
    with pytest.raises(ClientError) as missing:
        ssm.get_parameter(Name=KEY)
    assert missing.value.response["Error"]["Code"] == "ParameterNotFound", "plan created nothing"

    tags = crash_mid_cycle(account, "seal-web")
    parameter = ssm.get_parameter(Name=KEY)["Parameter"]
    assert parameter["Type"] == "SecureString"
    assert tags["asgpatch:state"].split("|")[2] == "patching" and tags["asgpatch:seal"].startswith("1:")


def test_copied_and_forged_state_tags_are_reported_and_left_alone_while_the_genuine_one_resumes(account):
    genuine = {k: v for k, v in group_tags(account, "seal-web").items() if k in OWN}
    assert "asgpatch:state" in genuine, "the previous test left seal-web in flight"
    put_tags(account, "seal-api", genuine)  # the genuine tags, copied to a running tagged group
    forged = Job("seal-batch", "20261209T040000Z-f0f0", Phase.RESTORING, 1.0, Capacity(0, 0, 0),
                 we_suspended=frozenset({"Launch"}))  # fmt: skip
    put_tags(account, "seal-batch", {"asgpatch:state": encode(forged), "asgpatch:reason": reason_value(forged)})
    before = {name: snapshot(account, name) for name in ("seal-api", "seal-batch")}

    plan = cli(account, "plan", *QUICK_RUN)
    assert plan.returncode == 0, plan.stderr
    assert entry_of(plan, "seal-api")["status"] == "skipped"
    assert "does not match its asgpatch:seal" in entry_of(plan, "seal-api")["reason"]

    result = cli(account, "run", *QUICK_RUN)
    assert result.returncode == 1, result.stderr
    web, api, batch = (entry_of(result, n) for n in ("seal-web", "seal-api", "seal-batch"))
    assert web["status"] == "patched", web["reason"]
    assert api["status"] == "failed" and "does not match its asgpatch:seal" in api["reason"]
    assert batch["status"] == "failed" and "carries no asgpatch:seal" in batch["reason"]
    assert "asgpatch recover --asg seal-batch" in batch["reason"]
    for name, seen in before.items():
        assert snapshot(account, name) == seen, f"{name} was changed"

    recovered = cli(account, "recover", *QUICK_RUN)
    assert recovered.returncode == 1
    assert "carries no asgpatch:seal" in entry_of(recovered, "seal-batch")["reason"]
    for name, seen in before.items():
        assert snapshot(account, name) == seen, f"recover without --asg changed {name}"

    status = cli(account, "status", "--output", "json")
    rows = {row["name"]: row for row in json.loads(status.stdout)["groups"]}
    assert "not sealed by asgpatch" in rows["seal-api"]["in_flight"]
    assert rows["seal-web"]["in_flight"] is None


def test_recover_asg_obeys_an_unsealed_tag_the_operator_vouches_for(account):
    """A tag written before seals existed (here: a genuine tag whose seal was removed) is refused by a
    run and restored by `recover --asg`, exactly as its state records."""
    tags = crash_mid_cycle(account, "seal-old")
    account.client("autoscaling").delete_tags(Tags=[
        {"ResourceId": "seal-old", "ResourceType": "auto-scaling-group", "Key": "asgpatch:seal"}])  # fmt: skip
    scaled_up = snapshot(account, "seal-old")
    assert scaled_up["group"]["DesiredCapacity"] == 1

    refused = cli(account, "run", *QUICK_RUN, "--asg", "seal-old")
    assert refused.returncode == 1 and "carries no asgpatch:seal" in entry_of(refused, "seal-old")["reason"]
    assert snapshot(account, "seal-old") == scaled_up

    recovered = cli(account, "recover", *QUICK_RUN, "--asg", "seal-old")
    entry = entry_of(recovered, "seal-old")
    assert recovered.returncode == 0 and entry["status"] == "skipped", entry["reason"]
    after = describe_group(account.client("autoscaling"), "seal-old")
    assert (after["MinSize"], after["MaxSize"], after["DesiredCapacity"]) == (0, 2, 0)
    assert after["SuspendedProcesses"] == [] and not any(i["ProtectedFromScaleIn"] for i in after["Instances"])
    assert not set(OWN) & set(group_tags(account, "seal-old")), f"state cleared (was {tags['asgpatch:state']})"


def test_a_state_key_that_cannot_be_read_stops_the_run_before_anything_changes(account):
    account.client("ssm").put_parameter(Name="/team/broken-key", Value="not a key!", Type="SecureString")
    before = snapshot(account, "seal-api")
    result = cli(account, "run", *QUICK_RUN, "--state-key-parameter", "/team/broken-key")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "cannot read or create the state key /team/broken-key" in result.stderr
    assert snapshot(account, "seal-api") == before
    report_of(cli(account, "plan", *QUICK_RUN))  # the account is still readable as before
