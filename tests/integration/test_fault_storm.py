"""The real CLI against a hostile endpoint (issue 4): the sandbox answers 20% of all calls with a transient
500/503, drops 3% of connections unanswered (a connection reset), lets 3% take effect and lose their
answer, and throttles as AWS does. A storm may
slow a run; it must not fail a healthy group, must report every group's outcome truthfully, and must
leave every group as the invariants of a clean run say.

Healthy groups and the groups broken on purpose (one per sandbox failure tag) are patched by two `asgpatch
run`s, each narrowed with its own tag so the broken ones can have short timeouts; they run one after the
other. The CLI's setup probe retries transient faults too
(test_a_transient_fault_on_the_setup_probe_is_retried uses a seed that faults the first calls).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError

from asgpatch_sandbox.builders import base_image, group, launch_template, quiet_recurrence
from asgpatch_sandbox.process import SandboxProcess
from tests.integration.cli import QUICK_WORLD

FAULT_RATE = "0.2"
FAULT_SEED = "4"
RESET_RATE = "0.03"  # and 3 % of calls have their connection dropped unanswered
LOST_ANSWER_RATE = 0.03  # once the account is built: 3 % take effect and lose their answer
QUICK_RUN = ("--poll-seconds", "0.5", "--output", "json")
# Our own setup and checks ride out the storm too: faults hit every call, not only the engine's.
PATIENT = Config(retries={"mode": "standard", "total_max_attempts": 20})
STORM = "storm"  # the tag key both runs are narrowed with

HEALTHY = ("storm-pinned", "storm-default", "storm-running", "storm-mixed")
ORIGINAL = {"storm-pinned": (0, 2, 0), "storm-default": (0, 2, 0), "storm-running": (1, 1, 1), "storm-mixed": (0, 3, 0)}
# Suspended before the run, so they must stay suspended (AZRebalance is one asgpatch suspends itself).
SUSPENDED_BEFORE = {"storm-pinned": ["AZRebalance", "AlarmNotification"], "storm-hang": ["AZRebalance"]}
# group -> (sandbox failure tag, value, what the report's reason must say)
BROKEN = {
    "storm-launch": ("sandbox:launch", "fail", "InService"),
    "storm-ssm": ("sandbox:ssm", "offline", "SSM agent"),
    "storm-patch": ("sandbox:patch", "fail", "ended Failed"),
    "storm-hang": ("sandbox:patch", "hang", "did not finish"),
    "storm-image": ("sandbox:image", "fail", "failed"),
}
UNTAGGED = "storm-untagged"
# Generous for what the quick world needs (an instance is Online 2 s after launch, an image takes 2 s) yet
# short enough that each broken group fails within seconds, even when a tick waits out retries.
BROKEN_TIMEOUTS = ("--launch-timeout", "12", "--ssm-timeout", "8", "--patch-timeout", "8", "--image-timeout", "10")


def client(sandbox: SandboxProcess, service: str) -> Any:
    return sandbox.client(service, config=PATIENT)


def start_cli(sandbox: SandboxProcess, *args: str) -> Cli:
    return Cli(sandbox, args, _spawn(sandbox, args))


def _spawn(sandbox: SandboxProcess, args: tuple[str, ...]) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "asgpatch", "run", *QUICK_RUN, *args]
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=sandbox.environment()
    )


@dataclass
class Cli:
    sandbox: SandboxProcess
    args: tuple[str, ...]
    process: subprocess.Popen[str]

    def report(self) -> dict[str, Any]:
        """Wait for the run and read its JSON report."""
        try:
            stdout, stderr = self.process.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            self.process.kill()
            stdout, stderr = self.process.communicate()
            raise AssertionError(f"the run did not end within 120 s:\n{stderr[-3000:]}") from None
        assert "Traceback" not in stderr, stderr
        assert stdout.strip(), f"no report (exit {self.process.returncode}):\n{stderr[-3000:]}"
        report: dict[str, Any] = json.loads(stdout)
        report["exit_code"] = self.process.returncode
        return report


def snapshot(sandbox: SandboxProcess, name: str) -> str:
    """Everything a user could see of a group and its template, as text."""
    autoscaling, ec2 = client(sandbox, "autoscaling"), client(sandbox, "ec2")
    found = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
    found.pop("Instances", None)
    actions = autoscaling.describe_scheduled_actions(AutoScalingGroupName=name)["ScheduledUpdateGroupActions"]
    template_id = found["LaunchTemplate"]["LaunchTemplateId"]
    versions = ec2.describe_launch_template_versions(LaunchTemplateId=template_id)["LaunchTemplateVersions"]
    templates = ec2.describe_launch_templates(LaunchTemplateIds=[template_id])["LaunchTemplates"]
    return json.dumps([found, actions, versions, templates], default=str, sort_keys=True)


def build_account(sandbox: SandboxProcess) -> dict[str, str]:
    """Every kind of group; returns each group's main launch template id."""
    ec2, autoscaling = client(sandbox, "ec2"), client(sandbox, "autoscaling")
    image = base_image(ec2, "storm-base")
    templates = {name: launch_template(ec2, name, image) for name in (*HEALTHY, *BROKEN, UNTAGGED)}
    sibling = launch_template(ec2, "storm-mixed-sibling", image)
    healthy = {STORM: "healthy"}
    group(autoscaling, "storm-pinned", templates["storm-pinned"], version="1", tags=healthy)
    group(autoscaling, "storm-default", templates["storm-default"], version="$Default", tags=healthy)
    group(autoscaling, "storm-running", templates["storm-running"], version="1", min_size=1, max_size=1, desired=1,
          tags=healthy)  # fmt: skip
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName="storm-mixed", MinSize=0, MaxSize=3, DesiredCapacity=0, AvailabilityZones=["us-east-1a"],
        MixedInstancesPolicy={
            "LaunchTemplate": {
                "LaunchTemplateSpecification": {"LaunchTemplateId": templates["storm-mixed"], "Version": "1"},
                "Overrides": [
                    {"InstanceType": "t3.small"},
                    {"InstanceType": "t3a.small",
                     "LaunchTemplateSpecification": {"LaunchTemplateId": sibling, "Version": "1"}},
                ],
            },
            "InstancesDistribution": {"OnDemandBaseCapacity": 0, "OnDemandPercentageAboveBaseCapacity": 50},
        },
        Tags=[{"Key": STORM, "Value": "healthy", "PropagateAtLaunch": False}],
    )  # fmt: skip
    for name, (key, value, _) in BROKEN.items():
        group(autoscaling, name, templates[name], version="1", tags={STORM: "broken", key: value})
    group(autoscaling, UNTAGGED, templates[UNTAGGED], version="1", tags={"team": "payments"})
    autoscaling.put_scheduled_update_group_action(
        AutoScalingGroupName=UNTAGGED,
        ScheduledActionName="up",
        DesiredCapacity=1,
        Recurrence=quiet_recurrence(sandbox.now()),
    )
    for name, processes in SUSPENDED_BEFORE.items():
        autoscaling.suspend_processes(AutoScalingGroupName=name, ScalingProcesses=processes)
    sandbox.advance(5)  # the running group's instance is in service
    return {**templates, "storm-mixed-sibling": sibling}


@pytest.fixture(scope="module")
def storm() -> Iterator[dict[str, Any]]:
    """One stormy account, patched by two runs: the healthy groups, then the broken ones."""
    args = (
        *QUICK_WORLD,
        "--throttle",
        "--fault-rate",
        FAULT_RATE,
        "--reset-rate",
        RESET_RATE,
        "--fault-seed",
        FAULT_SEED,
    )
    with SandboxProcess(*args) as sandbox:
        templates = build_account(sandbox)
        sandbox.set_faults(seed=int(FAULT_SEED), fault_rate=float(FAULT_RATE), reset_rate=float(RESET_RATE),
                           lost_answer_rate=LOST_ANSWER_RATE)  # fmt: skip
        autoscaling = client(sandbox, "autoscaling")
        serving = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["storm-running"])
        untagged_before = snapshot(sandbox, UNTAGGED)
        healthy = start_cli(sandbox, "--tag-key", STORM, "--tag-value", "healthy").report()
        broken = start_cli(sandbox, "--tag-key", STORM, "--tag-value", "broken", *BROKEN_TIMEOUTS).report()
        yield {
            "sandbox": sandbox,
            "templates": templates,
            "healthy": healthy,
            "broken": broken,
            "serving": serving["AutoScalingGroups"][0]["Instances"][0]["InstanceId"],
            "untagged_before": untagged_before,
        }


def entries(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {g["name"]: g for g in report["groups"]}


def launched_image(sandbox: SandboxProcess, found: dict[str, Any]) -> str:
    """The ImageId of the template version the group launches from, resolving $Default / $Latest."""
    spec = found.get("LaunchTemplate") or found["MixedInstancesPolicy"]["LaunchTemplate"]["LaunchTemplateSpecification"]
    ec2 = client(sandbox, "ec2")
    version = ec2.describe_launch_template_versions(
        LaunchTemplateId=spec["LaunchTemplateId"], Versions=[spec.get("Version", "$Default")]
    )["LaunchTemplateVersions"][0]
    return str(version["LaunchTemplateData"]["ImageId"])


def test_the_storm_really_blows(storm):
    """Guard against a quiet sandbox making this file pass for the wrong reason: without retries, about
    one call in five fails with a transient 500/503, and a few have their connection dropped."""
    raw = storm["sandbox"].client("autoscaling", config=Config(retries={"mode": "standard", "total_max_attempts": 1}))

    def outcome() -> str:
        try:
            raw.describe_auto_scaling_groups(AutoScalingGroupNames=[UNTAGGED])
            return "ok"
        except ClientError as error:
            return str(error.response["Error"]["Code"])
        except ConnectionClosedError:
            return "dropped"

    codes = [outcome() for _ in range(80)]
    transient = [c for c in codes if c in ("InternalFailure", "ServiceUnavailable")]
    assert 4 <= len(transient) <= 40, codes
    # Drops are rarer (3 % resets, 3 % lost answers): an 80-call sample misses them about 2 % of the time.
    while "dropped" not in codes and len(codes) < 1000:
        codes.append(outcome())
    assert "dropped" in codes, codes


def test_each_run_reports_every_group_it_took_on_truthfully(storm):
    """Healthy groups patched, each broken group failed for its own reason, nothing else reported."""
    healthy, broken = entries(storm["healthy"]), entries(storm["broken"])
    assert set(healthy) == set(HEALTHY) and set(broken) == set(BROKEN)
    for name in HEALTHY:
        assert healthy[name]["status"] == "patched", f"{name}: {healthy[name]['reason']}"
    assert storm["healthy"]["exit_code"] == 0
    for name, (_, _, says) in BROKEN.items():
        assert broken[name]["status"] == "failed", f"{name} reported {broken[name]['status']}"
        assert says in (broken[name]["reason"] or ""), f"{name}: {broken[name]['reason']}"
    assert storm["broken"]["exit_code"] == 1


@pytest.mark.parametrize("name", [*HEALTHY, *BROKEN])
def test_every_group_is_put_back(storm, name):
    """Original capacity, exactly the processes suspended before, no protection, no state or lease tag, a
    last result from the run that took the group on; at zero again, or only the serving instance left."""
    sandbox = storm["sandbox"]
    found = client(sandbox, "autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[name])
    found = found["AutoScalingGroups"][0]
    expected = ORIGINAL.get(name, (0, 2, 0))
    assert (found["MinSize"], found["MaxSize"], found["DesiredCapacity"]) == expected
    suspended = sorted(p["ProcessName"] for p in found["SuspendedProcesses"])
    assert suspended == SUSPENDED_BEFORE.get(name, []), "exactly the processes suspended before the run"
    assert not [i["InstanceId"] for i in found["Instances"] if i["ProtectedFromScaleIn"]]
    tags = {t["Key"]: t["Value"] for t in found["Tags"]}
    assert not {"asgpatch:state", "asgpatch:lease"} & set(tags), tags
    report = storm["healthy"] if name in HEALTHY else storm["broken"]
    status = entries(report)[name]["status"]
    assert tags["asgpatch:last-result"].startswith(f"{report['run_id']} {status} ")
    if name == "storm-running":
        assert [i["InstanceId"] for i in found["Instances"]] == [storm["serving"]], "only the patch instance left"
    else:
        staying = [i["InstanceId"] for i in found["Instances"] if not i["LifecycleState"].startswith("Terminat")]
        assert staying == [], f"{name} is back at zero, yet {staying} stay"


@pytest.mark.parametrize("name", [*HEALTHY, *BROKEN])
def test_at_most_one_new_image_and_version_and_the_template_resolves_to_a_live_image(storm, name):
    """A patched group: one AMI, one new version, and it launches that AMI. A failed one: none left, its
    template untouched. Either way what it launches is an available image, and a group that reached the
    patch step got exactly one patch command (answers lost in the storm are not sent twice)."""
    sandbox = storm["sandbox"]
    ec2 = client(sandbox, "ec2")
    found = client(sandbox, "autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[name])
    found = found["AutoScalingGroups"][0]
    mine = ec2.describe_images(Owners=["self"], Filters=[{"Name": "name", "Values": [f"asgpatch-{name}-*"]}])
    images = [i for i in mine["Images"] if i["State"] != "deregistered"]
    versions = ec2.describe_launch_template_versions(LaunchTemplateId=storm["templates"][name])
    numbers = sorted(v["VersionNumber"] for v in versions["LaunchTemplateVersions"])
    launched = launched_image(sandbox, found)
    live = ec2.describe_images(ImageIds=[launched])["Images"]
    assert live and live[0]["State"] == "available", f"{name} launches {launched}, which is not available"
    paginator = client(sandbox, "ssm").get_paginator("list_commands")
    commands = [
        c for page in paginator.paginate() for c in page["Commands"] if c.get("Comment", "").endswith(f" {name}")
    ]
    if name not in ("storm-launch", "storm-ssm"):  # those never reach the patch step
        assert len(commands) == 1, f"one patch command, even when an answer was lost: {commands}"
    if name in HEALTHY:
        entry = entries(storm["healthy"])[name]
        assert [i["ImageId"] for i in images] == [entry["image_id"]], "exactly one AMI for the run"
        assert numbers == [1, 2], "exactly one new template version"
        assert launched == entry["image_id"], f"{name} must launch the patched image"
    else:
        assert images == [], "a failed group's image is deregistered"
        assert numbers == [1], "a failed group's template is unchanged"


def test_the_mixed_groups_override_template_follows(storm):
    """The override template on the same image gets its own new version with the patched AMI."""
    sandbox = storm["sandbox"]
    found = client(sandbox, "autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=["storm-mixed"])
    overrides = found["AutoScalingGroups"][0]["MixedInstancesPolicy"]["LaunchTemplate"]["Overrides"]
    sibling = next(o["LaunchTemplateSpecification"] for o in overrides if "LaunchTemplateSpecification" in o)
    assert sibling["LaunchTemplateId"] == storm["templates"]["storm-mixed-sibling"] and sibling["Version"] == "2"
    data = client(sandbox, "ec2").describe_launch_template_versions(
        LaunchTemplateId=sibling["LaunchTemplateId"], Versions=["2"]
    )["LaunchTemplateVersions"][0]["LaunchTemplateData"]
    assert data["ImageId"] == entries(storm["healthy"])["storm-mixed"]["image_id"]


def test_the_untagged_group_is_byte_identical(storm):
    """Group, scheduled actions, template versions: nothing of it changed, and no report names it."""
    assert snapshot(storm["sandbox"], UNTAGGED) == storm["untagged_before"]
    assert UNTAGGED not in entries(storm["healthy"]) and UNTAGGED not in entries(storm["broken"])


def test_a_transient_fault_on_the_setup_probe_is_retried():
    """Seed 43 faults the first two calls the sandbox receives: both attempts of the CLI's probe."""
    with SandboxProcess("--fault-rate", FAULT_RATE, "--fault-seed", "43") as sandbox:
        process = _spawn(sandbox, ("--tag-key", STORM, "--tag-value", "nothing-carries-this"))
        stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert json.loads(stdout)["groups"] == []


def test_creates_whose_answer_was_lost_are_not_made_twice():
    """Each create takes effect and its answer is lost once (the sandbox's lose_first_answer): the run
    finds the command by its comment, the image by its name and the version by its client token,
    so the group is patched with one of each."""
    with SandboxProcess(*QUICK_WORLD) as sandbox:
        ec2 = sandbox.client("ec2")
        template = launch_template(ec2, "lt-lost", base_image(ec2, "base-lost"))
        group(sandbox.client("autoscaling"), "lost", template, tags={"ep:asg:patch": "true"})
        lost = ["SendCommand", "CreateImage", "CreateLaunchTemplateVersion", "CreateOrUpdateTags"]
        sandbox.set_faults(lose_first_answer=lost)
        command = [sys.executable, "-m", "asgpatch", "run", "--asg", "lost", *QUICK_RUN]
        run = subprocess.run(command, capture_output=True, text=True, env=sandbox.environment(), timeout=180)
        assert "Traceback" not in run.stderr, run.stderr
        entry = json.loads(run.stdout)["groups"][0]
        assert run.returncode == 0 and entry["status"] == "patched", entry
        commands = sandbox.client("ssm").list_commands()["Commands"]
        assert [c["Comment"] for c in commands] == [f"asgpatch {json.loads(run.stdout)['run_id']} lost"]
        images = ec2.describe_images(Owners=["self"], Filters=[{"Name": "name", "Values": ["asgpatch-lost-*"]}])
        assert [i["ImageId"] for i in images["Images"]] == [entry["image_id"]]
        versions = ec2.describe_launch_template_versions(LaunchTemplateId=template)["LaunchTemplateVersions"]
        assert sorted(v["VersionNumber"] for v in versions) == [1, 2]
        assert sandbox.control("GET", "faults")["lose_first_answer"] == [], "every answer was lost once"
