"""The crash matrix (issue 4): the real CLI is killed with SIGKILL at every phase boundary of the patch
cycle, then `asgpatch run` is started again, and the group must end exactly as a clean run leaves it.

`ASGPATCH_CRASH_AFTER=<Action>:<n>` makes the CLI kill itself right after the n-th successful action of
that kind (src/asgpatch/crashpoint.py). Each case has its own group, so every count is unambiguous, and
each run is narrowed to it with `--asg`. The crashing run holds a 2-second lease; the next run starts
once that lease has expired (wall clock). Afterwards, for every case:

- the group has its original MinSize/MaxSize/DesiredCapacity and exactly its serving instances;
- its suspended processes are exactly those suspended before (the user's own suspension is kept);
- no instance is protected from scale-in; no `asgpatch:state` and no `asgpatch:lease` tag is left;
- each run made at most one AMI, one template version and one patch command for the group — and the
  resumed run made none of its own when it could continue the crashed run's job;
- the version the group launches from (a number or `$Default`) resolves to an `available` image, the
  patched one; the resumed run reports the group `patched` and `asgpatch:last-result` says so.

The boundaries, counted from decide.py (WriteState n is the n-th state write):
    PENDING    WriteState:1 (preparing), SuspendProcesses:1, WriteState:2 (launching), SetCapacity:1
    LAUNCHING  WriteState:3 (waiting-instance), ProtectInstance:1
    WAITING    WriteState:4 (patching), SendPatchCommand:1
    PATCHING   WriteState:5 (imaging), CreateImage:1
    IMAGING    WriteState:6 (updating-template), CreateTemplateVersion:1
    UPDATING   UseTemplateVersion:1 (pinned) / SetDefaultVersion:1 ($Default), then WriteState:7 (restoring)
    RESTORING  ProtectInstance:2, TerminateInstance:1 (running groups), SetCapacity:2, ResumeProcesses:1,
               TerminateInstance:1 (a warm pool's instance from the old image, at zero), then ClearState:1,
               WriteResult:1
A crash at ClearState:1 comes after the patch is complete (the group is restored and untagged); the next
run finds nothing in flight and patches the group once more as a new run, so that case has two runs,
each with one AMI and one version.

Besides the matrix: a run started while the crashed run's lease is still live leaves the group alone
(`skipped`, "left to run …") until the lease expires; `asgpatch recover` after a crash puts the group back
without patching; `asgpatch recover` with nothing in flight changes nothing.

All cases run concurrently against one quick sandbox (a thread per case driving CLI subprocesses), so the
module takes about two minutes on two cores instead of ten.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any

import pytest

from asgpatch_sandbox.builders import base_image, describe_group, group, launch_template
from asgpatch_sandbox.process import SandboxProcess
from tests.integration.cli import cli, entry_of, group_tags, report_of, tags_of, wait_for_lease_expiry

# The module's fixture runs every scenario before the first test (about 2 minutes on two cores): the
# default 300 s per test would count all of that against the first one.
pytestmark = pytest.mark.timeout(900)

QUICK_RUN = ("--poll-seconds", "0.5", "--output", "json")
# Bounds, so a resumed run that waits for something that never comes fails instead of hanging the module.
TIMEOUTS = ("--launch-timeout", "60", "--ssm-timeout", "60", "--patch-timeout", "60", "--image-timeout", "60")
CRASH_LEASE_SECONDS = 2
WORKERS = 8

PATCH_TAG = {"ep:asg:patch": "true"}
USER_SUSPENDED = "AlarmNotification"  # suspended by the user before any run: must stay suspended
STATE_TAG, LEASE_TAG, RESULT_TAG = "asgpatch:state", "asgpatch:lease", "asgpatch:last-result"
LEAVING = {"Terminating", "Terminating:Wait", "Terminating:Proceed", "Terminated", "Detaching", "Detached"}
COMMAND_RUNNING = {"Pending", "InProgress", "Delayed", "Cancelling"}


# --- the cases -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Kind:
    version: str  # the group's launch template version spec
    capacity: tuple[int, int, int]  # min, max, desired
    user_suspended: frozenset[str]
    warm_pool: bool = False  # a Stopped warm pool: the restore replaces its instances from the old image


KINDS = {
    "zero": Kind("1", (0, 2, 0), frozenset({USER_SUSPENDED})),
    "zero-default": Kind("$Default", (0, 2, 0), frozenset({USER_SUSPENDED})),
    "running": Kind("$Default", (1, 1, 1), frozenset()),
    "warm": Kind("1", (0, 2, 0), frozenset(), warm_pool=True),
}


@dataclass(frozen=True)
class Case:
    kind: str
    crash: str  # ASGPATCH_CRASH_AFTER
    phase: str | None  # the phase in asgpatch:state right after the crash (None: no state tag)

    @property
    def id(self) -> str:
        return f"{self.kind}-{self.crash}"

    @property
    def group(self) -> str:
        return "crash-" + self.id.replace(":", "-").lower()

    @property
    def lease_left(self) -> bool:
        return self.crash != "ClearState:1"

    @property
    def fresh_run(self) -> bool:
        """The run after the crash starts a job of its own (nothing in flight to resume)."""
        return self.crash in ("WriteLease:1", "ClearState:1")


ZERO = [
    ("WriteLease:1", None),
    ("WriteState:1", "preparing"),
    ("SuspendProcesses:1", "preparing"),
    ("WriteState:2", "launching"),
    ("SetCapacity:1", "launching"),
    ("WriteState:3", "waiting-instance"),
    ("ProtectInstance:1", "waiting-instance"),
    ("WriteState:4", "patching"),
    ("SendPatchCommand:1", "patching"),
    ("WriteState:5", "imaging"),
    ("CreateImage:1", "imaging"),
    ("WriteState:6", "updating-template"),
    ("CreateTemplateVersion:1", "updating-template"),
    ("WriteState:7", "restoring"),
    ("UseTemplateVersion:1", "updating-template"),  # the group is pointed before the tag says restoring
    ("ProtectInstance:2", "restoring"),
    ("SetCapacity:2", "restoring"),
    ("ResumeProcesses:1", "restoring"),
    ("ClearState:1", None),
]
ZERO_DEFAULT = [("WriteState:7", "restoring"), ("SetDefaultVersion:1", "updating-template")]
RUNNING = [
    ("WriteState:2", "launching"),
    ("SetCapacity:1", "launching"),
    ("WriteState:3", "waiting-instance"),
    ("ProtectInstance:1", "waiting-instance"),
    ("SendPatchCommand:1", "patching"),
    ("CreateImage:1", "imaging"),
    ("CreateTemplateVersion:1", "updating-template"),
    ("WriteState:7", "restoring"),
    ("SetDefaultVersion:1", "updating-template"),
    ("ProtectInstance:2", "restoring"),
    ("TerminateInstance:1", "restoring"),
    ("SetCapacity:2", "restoring"),
    ("ResumeProcesses:1", "restoring"),
    ("ClearState:1", None),
]
# A group at zero has no TerminateInstance of its own: the first one replaces a warm instance.
WARM = [("TerminateInstance:1", "restoring")]
CASES = [
    *(Case("zero", crash, phase) for crash, phase in ZERO),
    *(Case("warm", crash, phase) for crash, phase in WARM),
    *(Case("zero-default", crash, phase) for crash, phase in ZERO_DEFAULT),
    *(Case("running", crash, phase) for crash, phase in RUNNING),
]
XFAIL: dict[str, str] = {}  # case id -> a known bug (none open)


def params(cases: list[Case], xfail: dict[str, str]) -> list[Any]:
    return [
        pytest.param(case, id=case.id, marks=[pytest.mark.xfail(strict=True, reason=xfail[case.id])])
        if case.id in xfail
        else pytest.param(case, id=case.id)
        for case in cases
    ]


# The early run must start and finish inside the crashed run's lease, alongside the other scenarios'
# CLIs on two cores: 40 s leaves room for a loaded machine (the scenario starts first, so its wait for
# the lease to expire overlaps the others).
LEASE_GROUP, LEASE_CRASH, LEASE_SECONDS = "crash-live-lease", "SendPatchCommand:1", 40
RECOVER = {"crash-recover-command": "SendPatchCommand:1", "crash-recover-image": "CreateImage:1"}
IDLE_GROUP = "crash-recover-idle"


# --- running the CLI -----------------------------------------------------------------------------


def crash(
    sandbox: SandboxProcess, name: str, at: str, lease: int = CRASH_LEASE_SECONDS
) -> subprocess.CompletedProcess[str]:
    return cli(sandbox, "run", *QUICK_RUN, *TIMEOUTS, "--asg", name, "--lease-seconds", str(lease),
               env={"ASGPATCH_CRASH_AFTER": at})  # fmt: skip


def run_again(sandbox: SandboxProcess, name: str) -> subprocess.CompletedProcess[str]:
    return cli(sandbox, "run", *QUICK_RUN, *TIMEOUTS, "--asg", name)


# --- reading the sandbox -------------------------------------------------------------------------


def run_in(state: str | None, lease: str | None) -> str | None:
    """The run a crash left on the group: from its state tag, else from its lease."""
    if state:
        return state.split("|")[1]
    if lease:
        return lease.rsplit(" ", 1)[0]
    return None


def own_images(sandbox: SandboxProcess, name: str) -> list[dict[str, Any]]:
    answer = sandbox.client("ec2").describe_images(
        Owners=["self"], Filters=[{"Name": "name", "Values": [f"asgpatch-{name}-*"]}]
    )
    return [i for i in answer["Images"] if tags_of(i).get("asgpatch:group") == name]


def patch_commands(sandbox: SandboxProcess, name: str) -> list[dict[str, Any]]:
    """Every command any run sent for the group (its comment is `asgpatch <run> <group>`)."""
    paginator = sandbox.client("ssm").get_paginator("list_commands")
    commands = [c for page in paginator.paginate() for c in page["Commands"]]
    return [c for c in commands if c.get("Comment", "").startswith("asgpatch ") and c["Comment"].endswith(f" {name}")]


def template_versions(sandbox: SandboxProcess, template_id: str) -> list[dict[str, Any]]:
    answer = sandbox.client("ec2").describe_launch_template_versions(LaunchTemplateId=template_id)
    return list(answer["LaunchTemplateVersions"])


def launched_image(sandbox: SandboxProcess, found: dict[str, Any]) -> tuple[str, str]:
    """(version spec, ImageId) of what the group launches from."""
    spec = found["LaunchTemplate"]
    version = spec.get("Version", "$Default")
    answer = sandbox.client("ec2").describe_launch_template_versions(
        LaunchTemplateId=spec["LaunchTemplateId"], Versions=[version]
    )
    return version, str(answer["LaunchTemplateVersions"][0]["LaunchTemplateData"]["ImageId"])


def snapshot(sandbox: SandboxProcess, name: str) -> str:
    """Everything a user could see of a group and its template, as text."""
    autoscaling, ec2 = sandbox.client("autoscaling"), sandbox.client("ec2")
    found = describe_group(autoscaling, name)
    template_id = found["LaunchTemplate"]["LaunchTemplateId"]
    versions = ec2.describe_launch_template_versions(LaunchTemplateId=template_id)["LaunchTemplateVersions"]
    templates = ec2.describe_launch_templates(LaunchTemplateIds=[template_id])["LaunchTemplates"]
    return json.dumps([found, versions, templates], default=str, sort_keys=True)


@dataclass(frozen=True)
class Before:
    capacity: tuple[int, int, int]
    suspended: frozenset[str]
    serving: frozenset[str]
    template_id: str
    version: str


def capacity_of(found: dict[str, Any]) -> tuple[int, int, int]:
    return found["MinSize"], found["MaxSize"], found["DesiredCapacity"]


def suspended_of(found: dict[str, Any]) -> frozenset[str]:
    return frozenset(p["ProcessName"] for p in found["SuspendedProcesses"])


def staying(found: dict[str, Any]) -> frozenset[str]:
    return frozenset(i["InstanceId"] for i in found["Instances"] if i["LifecycleState"] not in LEAVING)


def assert_restored(sandbox: SandboxProcess, name: str, before: Before) -> dict[str, Any]:
    """Capacity, processes, protection, instances and tags are as they were before any run."""
    found = describe_group(sandbox.client("autoscaling"), name)
    assert capacity_of(found) == before.capacity, f"{name}: capacity not restored"
    suspended = suspended_of(found)
    assert suspended - before.suspended == set(), f"{name}: asgpatch left processes suspended"
    assert before.suspended - suspended == set(), f"{name}: the user's own suspension was resumed"
    protected = [i["InstanceId"] for i in found["Instances"] if i["ProtectedFromScaleIn"]]
    assert protected == [], f"{name}: scale-in protection left on {protected}"
    tags = tags_of(found)
    assert STATE_TAG not in tags, f"{name}: state tag left: {tags[STATE_TAG]}"
    assert LEASE_TAG not in tags, f"{name}: lease tag left: {tags[LEASE_TAG]}"
    assert staying(found) == before.serving, (
        f"{name}: the group must keep exactly its serving instances {sorted(before.serving)} "
        f"(has {[(i['InstanceId'], i['LifecycleState']) for i in found['Instances']]})"
    )
    return found


def assert_one_of_each_per_run(sandbox: SandboxProcess, name: str, before: Before, runs: set[str]) -> None:
    """Each run that patched the group made exactly one AMI, one template version and one command."""
    images = Counter(tags_of(i).get("asgpatch:run") for i in own_images(sandbox, name))
    assert images == dict.fromkeys(runs, 1), f"{name}: AMIs per run {dict(images)}, expected one for {runs}"
    new = [v for v in template_versions(sandbox, before.template_id) if v["VersionNumber"] != 1]
    versions = Counter(v.get("VersionDescription", "").split(" ")[1].rstrip(":") for v in new)
    assert versions == dict.fromkeys(runs, 1), f"{name}: new versions per run {dict(versions)}, expected {runs}"
    commands = Counter(c["Comment"].split(" ")[1] for c in patch_commands(sandbox, name))
    assert commands == dict.fromkeys(runs, 1), f"{name}: patch commands per run {dict(commands)}, expected {runs}"


def assert_launches_patched_image(sandbox: SandboxProcess, found: dict[str, Any], before: Before, image: str) -> None:
    name = found["AutoScalingGroupName"]
    version, launched = launched_image(sandbox, found)
    if before.version == "$Default":
        assert version == "$Default", f"{name}: the group's version spec changed from $Default to {version}"
    else:
        assert version != before.version, f"{name}: a pinned group must be pointed at the new version"
    described = sandbox.client("ec2").describe_images(Filters=[{"Name": "image-id", "Values": [launched]}])["Images"]
    assert [i["State"] for i in described] == ["available"], f"{name}: {version} launches {launched}: {described}"
    assert launched == image, f"{name}: {version} launches {launched}, not the patched {image}"


# --- the module's account and runs ---------------------------------------------------------------


def build(sandbox: SandboxProcess, name: str, kind: Kind, image: str, extra: dict[str, str] | None = None) -> None:
    ec2, autoscaling = sandbox.client("ec2"), sandbox.client("autoscaling")
    low, high, desired = kind.capacity
    template = launch_template(ec2, name, image)
    group(autoscaling, name, template, version=kind.version, min_size=low, max_size=high, desired=desired,
          tags={**PATCH_TAG, **(extra or {})})  # fmt: skip
    if kind.user_suspended:
        autoscaling.suspend_processes(AutoScalingGroupName=name, ScalingProcesses=sorted(kind.user_suspended))
    if kind.warm_pool:
        autoscaling.put_warm_pool(AutoScalingGroupName=name, MinSize=1)


@pytest.fixture(scope="module")
def account(quick: SandboxProcess) -> dict[str, Before]:
    """One group per case, each as a user left it: what every group looked like before any run."""
    image = base_image(quick.client("ec2"), "crash-matrix-base")
    for case in CASES:
        build(quick, case.group, KINDS[case.kind], image)
    build(quick, LEASE_GROUP, KINDS["zero"], image)
    build(quick, IDLE_GROUP, KINDS["zero"], image)
    # This patch never ends by itself, so "cancelled or finished" means recovering stopped it.
    build(quick, "crash-recover-command", KINDS["zero"], image, {"sandbox:patch": "hang"})
    build(quick, "crash-recover-image", KINDS["zero"], image)
    names = [c.group for c in CASES] + [LEASE_GROUP, IDLE_GROUP, *RECOVER]
    autoscaling = quick.client("autoscaling")
    deadline = time.monotonic() + 30
    while True:  # the running groups' instances are in service before anything is patched
        found = {g: describe_group(autoscaling, g) for g in names}
        if all(len([i for i in f["Instances"] if i["LifecycleState"] == "InService"]) == f["DesiredCapacity"]
               for f in found.values()):  # fmt: skip
            break
        assert time.monotonic() < deadline, "the running groups' instances never came into service"
        time.sleep(0.5)
    return {
        name: Before(
            capacity_of(f),
            suspended_of(f),
            staying(f),
            f["LaunchTemplate"]["LaunchTemplateId"],
            f["LaunchTemplate"].get("Version", "$Default"),
        )
        for name, f in found.items()
    }


def crash_and_resume(sandbox: SandboxProcess, case: Case) -> dict[str, Any]:
    crashed = crash(sandbox, case.group, case.crash)
    after_crash = group_tags(sandbox, case.group)
    wait_for_lease_expiry(sandbox, case.group)
    resumed = run_again(sandbox, case.group)
    return {"crashed": crashed, "after_crash": after_crash, "resumed": resumed}


def live_lease(sandbox: SandboxProcess) -> dict[str, Any]:
    crashed = crash(sandbox, LEASE_GROUP, LEASE_CRASH, lease=LEASE_SECONDS)
    after_crash = group_tags(sandbox, LEASE_GROUP)
    early = run_again(sandbox, LEASE_GROUP)
    early_done = time.time()
    after_early = group_tags(sandbox, LEASE_GROUP)
    wait_for_lease_expiry(sandbox, LEASE_GROUP)
    late = run_again(sandbox, LEASE_GROUP)
    return {"crashed": crashed, "after_crash": after_crash, "early": early, "early_done": early_done,
            "after_early": after_early, "late": late}  # fmt: skip


def crash_and_recover(sandbox: SandboxProcess, name: str) -> dict[str, Any]:
    crashed = crash(sandbox, name, RECOVER[name])
    after_crash = group_tags(sandbox, name)
    wait_for_lease_expiry(sandbox, name)
    recovered = cli(sandbox, "recover", *QUICK_RUN, "--asg", name)
    deadline = time.monotonic() + 20
    while any(c["Status"] in COMMAND_RUNNING for c in patch_commands(sandbox, name)) and time.monotonic() < deadline:
        time.sleep(0.5)
    return {"crashed": crashed, "after_crash": after_crash, "recovered": recovered}


def recover_idle(sandbox: SandboxProcess) -> dict[str, Any]:
    before = snapshot(sandbox, IDLE_GROUP)
    recovered = cli(sandbox, "recover", *QUICK_RUN, "--asg", IDLE_GROUP)
    return {"before": before, "after": snapshot(sandbox, IDLE_GROUP), "recovered": recovered}


@pytest.fixture(scope="module")
def outcomes(quick: SandboxProcess, account: dict[str, Before]) -> dict[str, Future[dict[str, Any]]]:
    """Every scenario, concurrently (each on its own group); a scenario's error surfaces in its tests."""
    scenarios: dict[str, Callable[[], dict[str, Any]]] = {
        "lease": partial(live_lease, quick),
        "idle": partial(recover_idle, quick),
        **{name: partial(crash_and_recover, quick, name) for name in RECOVER},
        **{case.id: partial(crash_and_resume, quick, case) for case in CASES},
    }
    with ThreadPoolExecutor(WORKERS) as pool:
        futures = {key: pool.submit(scenario) for key, scenario in scenarios.items()}
        for future in futures.values():
            future.exception()  # wait for all before the tests read the account
    return futures


# --- the matrix ----------------------------------------------------------------------------------


@pytest.mark.parametrize("case", params(CASES, {}))
def test_each_run_is_killed_at_its_boundary(outcomes, case):
    outcome = outcomes[case.id].result()
    crashed = outcome["crashed"]
    assert crashed.returncode == -9, f"never reached {case.crash} (exit {crashed.returncode}): {crashed.stderr}"
    assert crashed.stdout == "", "killed before it could report"
    tags = outcome["after_crash"]
    phase = tags[STATE_TAG].split("|")[2] if STATE_TAG in tags else None
    assert phase == case.phase, f"after {case.crash} the state tag says {tags.get(STATE_TAG)}"
    assert (LEASE_TAG in tags) == case.lease_left, f"after {case.crash}: lease {tags.get(LEASE_TAG)}"


@pytest.mark.parametrize("case", params(CASES, XFAIL))
def test_after_a_crash_the_next_run_finishes_and_leaves_the_group_right(quick, account, outcomes, case):
    outcome = outcomes[case.id].result()
    assert outcome["crashed"].returncode == -9
    crashed_run = run_in(outcome["after_crash"].get(STATE_TAG), outcome["after_crash"].get(LEASE_TAG))
    resumed = outcome["resumed"]
    entry = entry_of(resumed, case.group)
    assert entry["status"] == "patched", entry["reason"]
    assert resumed.returncode == 0, resumed.stderr
    before = account[case.group]
    found = assert_restored(quick, case.group, before)
    new_run = report_of(resumed)["run_id"]
    job_run = new_run if case.fresh_run else crashed_run
    assert job_run is not None
    runs = {job_run}
    if case.crash == "ClearState:1":  # the crashed run had finished its patch; the next one patched anew
        images = {tags_of(i).get("asgpatch:run") for i in own_images(quick, case.group)}
        runs = {new_run, *(images - {new_run})}
        assert len(runs) == 2, f"expected the crashed run's AMI and the new run's, found runs {images}"
    assert_one_of_each_per_run(quick, case.group, before, runs)
    assert_launches_patched_image(quick, found, before, entry["image_id"])
    assert tags_of(found)[RESULT_TAG].startswith(f"{job_run} patched {entry['image_id']} ")
    if KINDS[case.kind].warm_pool:
        assert_pool_patched(quick, case.group, entry["image_id"])


def assert_pool_patched(sandbox: SandboxProcess, name: str, image: str) -> None:
    """Every warm instance runs the patched image (a scale-out takes them first)."""
    warm = sandbox.client("autoscaling").describe_warm_pool(AutoScalingGroupName=name)["Instances"]
    assert warm, f"{name}: the warm pool is empty"
    ids = [i["InstanceId"] for i in warm]
    reservations = sandbox.client("ec2").describe_instances(InstanceIds=ids)["Reservations"]
    images = {i["InstanceId"]: i["ImageId"] for r in reservations for i in r["Instances"]}
    assert set(images.values()) == {image}, f"{name}: warm instances run {images}, not only the patched {image}"


# --- one run at a time ---------------------------------------------------------------------------


def test_a_run_started_while_the_crashed_runs_lease_is_live_leaves_the_group_alone(outcomes):
    outcome = outcomes["lease"].result()
    assert outcome["crashed"].returncode == -9
    crashed_run = run_in(outcome["after_crash"].get(STATE_TAG), None)
    expires = float(outcome["after_crash"][LEASE_TAG].rsplit(" ", 1)[1])
    assert outcome["early_done"] < expires, "the second run came too late to see a live lease"
    early = outcome["early"]
    assert early.returncode == 0, early.stderr
    entry = entry_of(early, LEASE_GROUP)
    assert entry["status"] == "skipped"
    assert f"left to run {crashed_run}" in entry["reason"]
    before, after = outcome["after_crash"], outcome["after_early"]
    assert after[STATE_TAG] == before[STATE_TAG], "the group is still in flight, untouched"
    assert after[STATE_TAG].split("|")[2] == "patching"
    assert after[LEASE_TAG] == before[LEASE_TAG], "the live lease was not taken"


def test_once_the_lease_expires_the_next_run_finishes_the_group(quick, account, outcomes):
    outcome = outcomes["lease"].result()
    late = outcome["late"]
    entry = entry_of(late, LEASE_GROUP)
    assert entry["status"] == "patched", entry["reason"]
    assert late.returncode == 0, late.stderr
    before = account[LEASE_GROUP]
    found = assert_restored(quick, LEASE_GROUP, before)
    crashed_run = run_in(outcome["after_crash"][STATE_TAG], None)
    assert crashed_run is not None
    assert_one_of_each_per_run(quick, LEASE_GROUP, before, {crashed_run})
    assert_launches_patched_image(quick, found, before, entry["image_id"])


# --- asgpatch recover ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(RECOVER))
def test_recover_after_a_crash_puts_the_group_back_without_patching(quick, account, outcomes, name):
    outcome = outcomes[name].result()
    assert outcome["crashed"].returncode == -9
    crashed_run = run_in(outcome["after_crash"].get(STATE_TAG), None)
    recovered = outcome["recovered"]
    assert recovered.returncode == 0, recovered.stderr
    entry = entry_of(recovered, name)
    assert entry["status"] == "skipped" and "recovered" in entry["reason"] and "not patched" in entry["reason"]
    before = account[name]
    found = assert_restored(quick, name, before)
    versions = template_versions(quick, before.template_id)
    assert [v["VersionNumber"] for v in versions] == [1], "recover creates no template version"
    assert found["LaunchTemplate"].get("Version") == before.version
    commands = patch_commands(quick, name)
    assert [c["Comment"] for c in commands] == [f"asgpatch {crashed_run} {name}"]
    assert commands[0]["Status"] not in COMMAND_RUNNING, f"the patch command is still {commands[0]['Status']}"
    assert tags_of(found)[RESULT_TAG].startswith(f"{crashed_run} skipped - ")


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("crash-recover-command", id="SendPatchCommand:1"),
        pytest.param("crash-recover-image", id="CreateImage:1", marks=()),
    ],
)
def test_recover_after_a_crash_leaves_no_image(quick, outcomes, name):
    outcome = outcomes[name].result()
    assert outcome["crashed"].returncode == -9
    assert outcome["recovered"].returncode == 0
    leftover = [(i["ImageId"], i["Name"], i["State"]) for i in own_images(quick, name)]
    assert leftover == [], "an image nothing uses is deregistered"


def test_recover_with_nothing_in_flight_does_nothing(outcomes):
    outcome = outcomes["idle"].result()
    recovered = outcome["recovered"]
    assert recovered.returncode == 0, recovered.stderr
    assert report_of(recovered)["groups"] == [], "nothing to do"
    assert outcome["after"] == outcome["before"], "the group was changed"
