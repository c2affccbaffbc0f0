"""Property tests of the phase machine (issue 4): any world, any failure, any crash point — every group
ends DONE and restored, and the tag on the group always says what is about to happen before it happens.

Two levels:
- the engine, through `runner.run`, on the in-memory cloud with fake time: random groups, failure knobs,
  API errors and SIGKILL-like crashes, with a fresh run resuming from what is on the groups;
- `decide` alone, on arbitrary observations: it never raises and only asks for side effects that the
  state recorded on the group licenses.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from asgpatch import naming, runner
from asgpatch.actions import (
    Action,
    CancelCommand,
    ClearState,
    CreateImage,
    CreateTemplateVersion,
    DeregisterImage,
    ProtectInstance,
    ResumeProcesses,
    SendPatchCommand,
    SetCapacity,
    SetDefaultVersion,
    SuspendProcesses,
    TerminateInstance,
    UseTemplateVersion,
    WriteLease,
    WriteResult,
    WriteState,
)
from asgpatch.clock import FakeClock
from asgpatch.cloud import CloudError
from asgpatch.config import RunConfig
from asgpatch.decide import LEAVING, NEEDS_INSTANCE, decide
from asgpatch.model import (
    ISOLATING_PROCESSES,
    Capacity,
    CommandView,
    GroupView,
    ImageView,
    InstanceView,
    Job,
    Observation,
    Outcome,
    Phase,
    Settings,
    TemplateRef,
    TemplateSpec,
    TemplateView,
)
from asgpatch.relaunching import DEAD
from asgpatch.sharing import HOST_BLOCKERS
from asgpatch.state import (
    FORMAT_VERSION,
    LEASE_TAG,
    PROCESS_CODES,
    RESULT_TAG,
    STATE_TAG,
    encode,
    lease_value,
    was_there,
)
from asgpatch.tick import Engine
from tests.fakes import BASE_IMAGE, FakeCloud, FakeTemplate

PROPERTY_SETTINGS = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
PROCESSES = sorted(PROCESS_CODES)
PATCH_TAG = {"ep:asg:patch": "true"}
POLL = 10.0
# Timeouts well above what the fake world needs (a healthy cycle is ~3 min of fake time, a crash costs a
# lease expiry), so that only a failure knob or an API error can fail a group.
ENGINE_SETTINGS = Settings(
    launch_timeout=1200, ssm_timeout=600, patch_timeout=1200, image_timeout=1200, lease_seconds=60
)
MAX_TICKS = 2000  # over all the runs of one example
# Runs that end without a crash but leave a group unfinished must each have met an injected error (a
# "not started" first write, or a restore given up with the state tag kept), so runs are bounded too.
EXTRA_RUNS = 2

# failure knob -> (FakeGroup.fail, doomed launches, a word the report's reason must contain; None: patched)
KNOBS: dict[str, tuple[dict[str, str], int, str | None]] = {
    "none": ({}, 0, None),
    "one-failed-launch": ({}, 1, None),  # Auto Scaling launches another: not a failure
    "two-failed-launches": ({}, 2, None),
    "launch-fail": ({"launch": "fail"}, 0, "InService"),
    "ssm-offline": ({"ssm": "offline"}, 0, "SSM agent"),
    "patch-fail": ({"patch": "fail"}, 0, "ended Failed"),
    "patch-hang": ({"patch": "hang"}, 0, "did not finish within"),
    "image-fail": ({"image": "fail"}, 0, "failed"),
    "killed-once": ({"kill": "once"}, 0, None),  # someone terminates the patch instance: launch another
    "killed-twice": ({"kill": "twice"}, 0, "was lost while patching"),
    # terminated between a tick's read and the call on it (the call fails): the next read relaunches
    "killed-before-send": ({"kill": "before-send"}, 0, None),
    "killed-before-image": ({"kill": "before-image"}, 0, None),
}
ACTION_KINDS: list[type] = [
    WriteState, WriteLease, ClearState, WriteResult, SuspendProcesses, ResumeProcesses, SetCapacity,
    ProtectInstance, TerminateInstance, SendPatchCommand, CancelCommand, CreateImage, DeregisterImage,
    CreateTemplateVersion, SetDefaultVersion, UseTemplateVersion,
]  # fmt: skip


class Killed(BaseException):
    """SIGKILL: nothing in the engine can catch it, and nothing after it runs."""


# --- engine level ------------------------------------------------------------------------------


@dataclass(frozen=True)
class GroupSpec:
    name: str
    capacity: Capacity
    version: str  # "1".."3", "$Latest" or "$Default"
    versions: int  # how many versions the group's template has
    default: int  # its default version
    suspended: frozenset[str]
    knob: str
    mixed: bool

    @property
    def at_zero(self) -> bool:
        return self.capacity.desired == 0


@st.composite
def group_specs(draw: st.DrawFn, name: str) -> GroupSpec:
    if draw(st.booleans()):
        high = draw(st.integers(0, 3))
        capacity = Capacity(0, high, 0)
    else:
        low = draw(st.integers(0, 2))
        desired = draw(st.integers(max(low, 1), low + 2))
        capacity = Capacity(low, desired + draw(st.integers(0, 1)), desired)
    versions = draw(st.integers(1, 3))
    version = draw(st.sampled_from(["$Latest", "$Default", *(str(n) for n in range(1, versions + 1))]))
    return GroupSpec(
        name=name,
        capacity=capacity,
        version=version,
        versions=versions,
        default=draw(st.integers(1, versions)),
        suspended=draw(st.frozensets(st.sampled_from(PROCESSES), max_size=4)),
        knob=draw(st.sampled_from(sorted(KNOBS))),
        mixed=draw(st.booleans()),
    )


@dataclass(frozen=True)
class Scenario:
    groups: tuple[GroupSpec, ...]
    concurrency: int
    errors: dict[type, int] = field(default_factory=dict)  # action kind -> how many of its next calls fail
    crashes: tuple[int, ...] = ()  # run n is killed after its crashes[n]-th successful action


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    count = draw(st.integers(1, 3))
    groups = tuple(draw(group_specs(f"g{index}")) for index in range(count))
    errors = draw(st.dictionaries(st.sampled_from(ACTION_KINDS), st.integers(1, 3), max_size=3))
    crashes = draw(st.lists(st.integers(1, 40), max_size=3))
    return Scenario(groups, draw(st.integers(1, 3)), errors, tuple(crashes))


def build(scenario: Scenario) -> tuple[FakeCloud, FakeClock, dict[str, frozenset[str]]]:
    """The account; returns the serving instances of each group (there before any run)."""
    clock = FakeClock()
    cloud = FakeCloud(clock)
    for spec in scenario.groups:
        template = f"lt-{spec.name}"
        images = {n: f"ami-base-{spec.name}-{n}" for n in range(1, spec.versions + 1)}
        descriptions = {n: f"initial {n}" for n in images}
        cloud.templates[template] = FakeTemplate(template, spec.default, images, descriptions)
        fail, doomed, _ = KNOBS[spec.knob]
        group = cloud.add_group(
            spec.name, spec.capacity, template_id=template, version=spec.version, mixed=spec.mixed,
            suspended=set(spec.suspended), fail=dict(fail), tags=dict(PATCH_TAG),
        )  # fmt: skip
        group.doomed_launches = doomed  # only launches by the run fail; the serving instances are up
    clock.sleep(3600)  # the serving instances are an hour old and InService
    serving = {s.name: frozenset(i.instance_id for i in cloud.groups[s.name].instances) for s in scenario.groups}
    cloud.errors_left = dict(scenario.errors)
    return cloud, clock, serving


def unfinished(cloud: FakeCloud) -> list[str]:
    """Groups a new run must take on: in flight (state tag) or never finished (no result yet), except
    those whose owner suspended what a patch needs: every run leaves them alone."""
    return [
        name for name, g in cloud.groups.items()
        if (STATE_TAG in g.tags or RESULT_TAG not in g.tags) and not g.suspended & HOST_BLOCKERS
    ]  # fmt: skip


def assert_left_alone(cloud: FakeCloud, spec: GroupSpec, runs: Runs) -> None:
    """A group whose owner suspended Launch or Terminate is skipped at once, naming the process, and
    nothing of it is changed."""
    group = cloud.groups[spec.name]
    assert (group.capacity, group.suspended, group.tags) == (spec.capacity, set(spec.suspended), PATCH_TAG)
    assert not [a for a in cloud.calls if spec.name in (getattr(a, "group", None), *getattr(a, "groups", ()))]
    entry = runs.final[spec.name]
    assert entry["status"] == "skipped" and any(p in entry["reason"] for p in spec.suspended & HOST_BLOCKERS)


GAVE_UP = ("not started", "restore incomplete")


@dataclass
class Runs:
    run_ids: list[str] = field(default_factory=list)
    ticks: int = 0
    crashed: int = 0
    final: dict[str, dict[str, Any]] = field(default_factory=dict)  # group -> its entry in the last report


def run_with_crashes(cloud: FakeCloud, clock: FakeClock, scenario: Scenario) -> Runs:
    """`asgpatch run`, killed after the n-th action as the scenario says, then started again (narrowed
    with --asg to the groups not finished yet) until every group is finished."""
    runs = Runs()
    crashes = list(scenario.crashes)

    def still_to_run() -> list[str]:  # and a group left alone is in at least one finished run's report
        alone = [n for n, g in cloud.groups.items() if g.suspended & HOST_BLOCKERS and n not in runs.final]
        return sorted({*unfinished(cloud), *alone})

    while names := still_to_run():
        bound = len(scenario.crashes) + sum(scenario.errors.values()) + EXTRA_RUNS
        assert len(runs.run_ids) < bound, f"still unfinished after {len(runs.run_ids)} runs: {names}"
        run_id = f"20261127T04{len(runs.run_ids):02d}00Z-abcd"
        runs.run_ids.append(run_id)
        kill_after = crashes.pop(0) if crashes else None
        done = {"actions": 0}

        def on_action(action: Action, kill_after: int | None = kill_after, done: dict[str, int] = done) -> None:
            done["actions"] += 1
            if kill_after is not None and done["actions"] >= kill_after:
                raise Killed

        def on_tick(jobs: Sequence[Job], now: float) -> None:
            runs.ticks += 1
            assert runs.ticks <= MAX_TICKS, f"no end in sight: {[(j.group, j.phase.value) for j in jobs]}"

        config = RunConfig(asg_names=tuple(names), concurrency=scenario.concurrency, poll_seconds=POLL,
                           settings=ENGINE_SETTINGS)  # fmt: skip
        try:
            report = runner.run(cloud, config, run_id, clock, on_tick=on_tick, on_action=on_action)
        except Killed:
            runs.crashed += 1
            clock.sleep(ENGINE_SETTINGS.lease_seconds + POLL)  # the dead run's leases expire
            continue
        runs.final.update({entry["name"]: {**entry, "run_id": run_id} for entry in report["groups"]})
        if any(word in (entry["reason"] or "") for entry in report["groups"] for word in GAVE_UP):
            # The run gave up on a group and gave back its lease quietly; if that failed too, the lease
            # blocks the group until it expires, so the next run comes after that, as an operator's
            # would. (test_a_restore_given_up_keeps_the_state_and_gives_back_the_lease: it is given back.)
            clock.sleep(ENGINE_SETTINGS.lease_seconds + POLL)
    return runs


def assert_restored(cloud: FakeCloud, spec: GroupSpec, serving: frozenset[str], runs: Runs) -> None:
    group = cloud.groups[spec.name]
    assert group.capacity == spec.capacity, f"{spec.name}: capacity {group.capacity}, was {spec.capacity}"
    assert group.suspended == set(spec.suspended), f"{spec.name}: suspended {group.suspended}"
    live = [i for i in group.instances if not i.terminated]
    assert not [i.instance_id for i in live if i.protected], f"{spec.name}: scale-in protection left on"
    assert set(group.tags) == set(PATCH_TAG) | {RESULT_TAG}, f"{spec.name}: tags left {group.tags}"
    assert serving <= {i.instance_id for i in live}, f"{spec.name}: a serving instance was terminated"
    touched = {a.instance_id for a in cloud.calls if isinstance(a, SendPatchCommand | CreateImage | TerminateInstance)}
    assert not serving & touched, f"{spec.name}: a serving instance was patched, imaged or terminated"
    commands = [c for c in cloud.commands.values() if c.group == spec.name]
    assert all(cloud._command_status(c) != "InProgress" for c in commands), f"{spec.name}: a command still runs"
    assert all(c.protected for c in commands), f"{spec.name}: a patch instance was patched unprotected"

    images = [i for i in cloud.images_made.values() if i.group == spec.name]
    for run_id in runs.run_ids:
        assert len([i for i in images if i.name == naming.image_name(spec.name, run_id)]) <= 1
    assert len(images) <= len(runs.run_ids)
    template = cloud.templates[f"lt-{spec.name}"]
    for run_id in runs.run_ids:
        made = [n for n, d in template.descriptions.items() if naming.mentions_run(d, run_id)]
        assert len(made) <= 1, f"{spec.name}: versions {made} for run {run_id}"
    live_images = {i.image_id for i in images if not i.deregistered}
    referenced = set(template.images.values())
    assert live_images <= referenced, f"{spec.name}: images {live_images - referenced} left that nothing uses"
    in_use = cloud.image_in_use(spec.name)  # its version spec, resolved
    assert in_use in live_images or in_use.startswith("ami-base-"), f"{spec.name} launches a gone image {in_use}"
    result = last_result(cloud, spec.name)
    if result["status"] == "patched":
        assert result["image_id"] in live_images, f"{spec.name}: patched with a gone image"
        assert in_use == result["image_id"], f"{spec.name}: patched but launches {in_use}"


def last_result(cloud: FakeCloud, name: str) -> dict[str, Any]:
    """The group's asgpatch:last-result tag: "<run> <outcome> <ami|-> <time> [reason]"."""
    run_id, status, image, _, *reason = cloud.groups[name].tags[RESULT_TAG].split(" ", 4)
    return {"run_id": run_id, "status": status, "image_id": image, "reason": reason[0] if reason else ""}


def assert_truthful(spec: GroupSpec, result: dict[str, Any], entry: dict[str, Any] | None, errors_raised: int) -> None:
    """With no API error injected, a healthy group is patched and a broken one fails for its reason (an
    injected error is named when it is why a healthy group failed); the report of the run that finished
    the group says the same as the result tag it left."""
    if entry is not None:
        assert (entry["status"], entry["reason"] or "") == (result["status"], result["reason"]), (entry, result)
    expected = KNOBS[spec.knob][2]
    if errors_raised:
        if result["status"] == "failed" and expected is None:
            # the injected error, or (with a knob that terminates the instance right before a call) the
            # call's own error when it came right after an injected one: two failures in a row
            named = ["InternalFailure", "restore incomplete"]
            if spec.knob.startswith("killed-before"):
                named += ["InvalidInstanceId", "IncorrectInstanceState"]
            assert any(word in result["reason"] for word in named), result
        return
    if expected is None:
        assert result["status"] == "patched", f"{spec.name} ({spec.knob}): {result['reason']}"
    else:
        assert result["status"] == "failed", f"{spec.name} ({spec.knob}) reported {result['status']}"
        assert expected in result["reason"], result["reason"]


@PROPERTY_SETTINGS
@given(scenarios())
def test_any_world_any_failure_any_crash_ends_done_and_restored(scenario: Scenario):
    """Every group ends finished (no state tag, a last-result tag), at its original capacity, with
    only the processes suspended that were suspended before, no protection, serving instances never
    touched, at most one AMI and one template version per run, launching an image that exists (the
    new one when patched); and the report says what happened."""
    cloud, clock, serving = build(scenario)
    runs = run_with_crashes(cloud, clock, scenario)

    raised = sum(scenario.errors.values()) - sum(cloud.errors_left.values())
    for spec in scenario.groups:
        if spec.suspended & HOST_BLOCKERS:
            assert_left_alone(cloud, spec, runs)
            event("owner suspended Launch or Terminate: left alone")
            continue
        assert_restored(cloud, spec, serving[spec.name], runs)
        result = last_result(cloud, spec.name)
        assert result["run_id"] in runs.run_ids
        entry = runs.final.get(spec.name) if runs.final.get(spec.name, {}).get("run_id") == result["run_id"] else None
        assert_truthful(spec, result, entry, raised)
        event(f"{'at zero' if spec.at_zero else 'running'}: {result['status']}")
    event(f"crashes: {runs.crashed}")
    event(f"errors raised: {min(raised, 3)}{'+' if raised > 3 else ''}")


# How a person or a tool may mangle the state tag a crashed run left, and whether what a restore needs
# (capacity and the processes asgpatch suspended) can still be read from it.
CORRUPTIONS: dict[str, tuple[Any, bool]] = {
    "phase-edited": (lambda f: [*f[:2], "PAUSED by ops", *f[3:]], True),
    "capacity-reordered": (lambda f: [*f[:3], ",".join(f[3].split(",")[1::-1] + f[3].split(",")[2:]), *f[4:]], True),
    "ours-garbled": (lambda f: [*f[:5], "??", *f[6:]], True),  # derived from the processes suspended before
    "truncated": (lambda f: f[:8], True),
    "processes-garbled": (lambda f: [*f[:4], "??", "??", *f[6:]], False),
    "garbage": (lambda f: ["see ticket OPS-1234"], False),
    "newer": (lambda f: [str(int(FORMAT_VERSION) + 1), *f[1:], "from-the-future"], False),
}


@PROPERTY_SETTINGS
@given(group_specs("web"), st.integers(2, 18), st.sampled_from(sorted(CORRUPTIONS)))
def test_a_mangled_state_tag_after_a_crash_is_restored_as_safely_as_it_can_be_read(
    spec: GroupSpec, crash_after: int, corruption: str
):
    """A run is killed mid-cycle and someone mangles the group's state tag. The next run finds the seal
    broken: it reports the group failed and changes nothing. The operator then runs `recover --asg web`:
    it never raises and never touches a serving instance; it reports the group failed with the reason;
    when the restore fields can be read the group ends exactly as it was, untagged; when they cannot,
    what could be read is restored and the tag is kept; a tag from a newer asgpatch leaves the group as
    it is."""
    spec = replace(spec, knob="none")
    cloud, clock, servings = build(Scenario((spec,), concurrency=1))
    serving = servings["web"]
    actions = itertools.count(1)
    with contextlib.suppress(Killed):
        _one_run(cloud, clock, RUN, _kill_when(lambda _: next(actions) == crash_after))
    group = cloud.groups["web"]
    assume(STATE_TAG in group.tags)
    mangle, readable = CORRUPTIONS[corruption]
    mangled = "|".join(mangle(group.tags[STATE_TAG].split("|")))
    assume(mangled != group.tags[STATE_TAG])  # e.g. reordering 0,0,0
    group.tags[STATE_TAG] = mangled
    before = (group.capacity, set(group.suspended), {i.instance_id for i in cloud._live(group)})
    clock.sleep(ENGINE_SETTINGS.lease_seconds + POLL)

    refused = _one_run(cloud, clock, "20261127T050000Z-beef")["groups"][0]
    assert refused["status"] == "failed" and "does not match its asgpatch:seal" in refused["reason"]
    assert (group.capacity, set(group.suspended), {i.instance_id for i in cloud._live(group)}) == before
    assert group.tags[STATE_TAG] == mangled, "a tag asgpatch did not write is left alone"
    config = RunConfig(asg_names=("web",), poll_seconds=POLL, settings=ENGINE_SETTINGS)
    entry = runner.recover(cloud, config, "20261127T051000Z-cafe", clock)["groups"][0]
    event(f"{corruption} after action {crash_after}: {entry['status']}")
    live = {i.instance_id for i in cloud._live(group)}
    assert serving <= live, "a serving instance was terminated"
    touched = {a.instance_id for a in cloud.calls if isinstance(a, SendPatchCommand | CreateImage | TerminateInstance)}
    assert not serving & touched, "a serving instance was patched, imaged or terminated"
    assert not any(i.deregistered for i in cloud.images_made.values() if i.image_id in cloud.templates[
        "lt-web"].images.values()), "an image a template version uses was deregistered"  # fmt: skip
    assert entry["status"] == "failed"
    if corruption == "newer":
        assert "written by a newer asgpatch" in entry["reason"]
        assert (group.capacity, set(group.suspended), live) == before and group.tags[STATE_TAG] == mangled
        return
    assert "unreadable asgpatch:state tag" in entry["reason"]
    if readable and "which instance is the patch instance" not in entry["reason"]:
        assert group.capacity == spec.capacity, f"capacity {group.capacity}, was {spec.capacity}"
        assert group.suspended == set(spec.suspended), f"suspended {group.suspended}, was {spec.suspended}"
        assert not [i.instance_id for i in cloud._live(group) if i.protected], "scale-in protection left on"
        assert STATE_TAG not in group.tags and LEASE_TAG not in group.tags
        assert live == serving
    else:
        assert "could not read" in entry["reason"]
        assert group.tags[STATE_TAG] == mangled and LEASE_TAG not in group.tags, "kept, so every run reports it"
        assert group.suspended >= set(spec.suspended), "nothing the user suspended is resumed"
        if corruption == "processes-garbled" and "which instance is the patch instance" not in entry["reason"]:
            assert group.capacity == spec.capacity, "the capacity could be read, so it is restored"


# --- decide level ------------------------------------------------------------------------------

NOW = 1_800_000_000.0
RUN = "20261127T040000Z-abcd"
DECIDE_SETTINGS = Settings(launch_timeout=600, ssm_timeout=300, patch_timeout=3600, image_timeout=1800)
INSTANCE_IDS = ["i-1", "i-2", "i-3", "i-4"]
LIFECYCLES = ["Pending", "Pending:Wait", "InService", "Standby", "Terminating", "Terminating:Wait",
              "Terminated", "Detaching", "Detached", "Warmed:Running"]  # fmt: skip
EC2_STATES = [None, "pending", "running", "stopping", "stopped", "shutting-down", "terminated"]
PINGS = [None, "Online", "ConnectionLost", "Inactive"]
COMMAND_STATUSES = ["Pending", "InProgress", "Delayed", "Success", "Failed", "Cancelled", "Cancelling",
                    "TimedOut", "DeliveryTimedOut", "ExecutionTimedOut", "Undeliverable", "Terminated"]  # fmt: skip
IMAGE_STATES = ["pending", "available", "failed", "invalid", "error", "deregistered", "disabled", "transient"]
TEMPLATE_IDS = ["lt-1", "lt-2"]
AMIS = ["ami-3", "ami-4", "ami-9", "ami-x"]

times = st.integers(-100_000, 100_000).map(lambda offset: NOW + offset)
# Auto Scaling keeps min <= desired <= max, so a group (and a capacity recorded from one) always is.
capacities = st.lists(st.integers(0, 5), min_size=3, max_size=3).map(sorted).map(lambda c: Capacity(c[0], c[2], c[1]))
processes = st.frozensets(st.sampled_from(PROCESSES), max_size=5)
versions = st.sampled_from(["1", "2", "3", "$Latest", "$Default"])
specs = st.builds(TemplateSpec, st.sampled_from(TEMPLATE_IDS), versions)


@st.composite
def instances(draw: st.DrawFn) -> tuple[InstanceView, ...]:
    ids = draw(st.lists(st.sampled_from(INSTANCE_IDS), unique=True, max_size=4))
    return tuple(
        InstanceView(
            instance_id,
            draw(st.sampled_from(LIFECYCLES)),
            protected=draw(st.booleans()),
            ec2_state=draw(st.sampled_from(EC2_STATES)),
            launch_time=draw(st.none() | times),
            ssm_ping=draw(st.sampled_from(PINGS)),
        )
        for instance_id in ids
    )


@st.composite
def template_views(draw: st.DrawFn, template_id: str) -> TemplateView:
    latest = draw(st.integers(1, 4))
    images = draw(st.dictionaries(st.integers(1, latest), st.sampled_from(AMIS), max_size=latest))
    return TemplateView(
        template_id,
        template_id,
        default_version=draw(st.integers(1, latest)),
        latest_version=latest,
        images=images,
        run_versions=draw(st.dictionaries(st.integers(1, latest), st.integers(1, latest + 1), max_size=2)),
    )


@st.composite
def jobs(draw: st.DrawFn) -> Job:
    """Any job not DONE: a fresh one (as a run starts it) or one in flight with any recorded fields."""
    phase = draw(st.sampled_from([p for p in Phase if p is not Phase.DONE]))
    claimed = draw(st.booleans() | st.just(True))
    if phase is Phase.PENDING:
        return Job("web", RUN, owner=RUN, claimed=claimed)
    return Job(
        "web",
        RUN,
        phase,
        phase_started=draw(times),
        original=draw(capacities),
        was_suspended=draw(processes),
        we_suspended=draw(st.frozensets(st.sampled_from(sorted(ISOLATING_PROCESSES)))),
        launch_requested=draw(st.none() | times),
        instance_id=draw(st.none() | st.sampled_from(INSTANCE_IDS)),
        ready_at=draw(st.none() | times),
        command_id=draw(st.none() | st.just("c-1")),
        image_id=draw(st.none() | st.just("ami-9")),
        source_image=draw(st.none() | st.sampled_from(AMIS)),
        template_id=draw(st.none() | st.sampled_from(TEMPLATE_IDS)),
        source_version=draw(st.none() | st.integers(1, 4)),
        new_version=draw(st.none() | st.integers(1, 5)),
        outcome=draw(st.none() | st.sampled_from(list(Outcome))),
        reason=draw(st.sampled_from(["", "earlier failure"])),
        preexisting=draw(st.frozensets(st.sampled_from(INSTANCE_IDS))),
        relaunches=draw(st.integers(0, 1)),
        owner=RUN,
        claimed=claimed,
    )


@st.composite
def observations(draw: st.DrawFn, job: Job) -> Observation:
    now = draw(times)
    group = None
    if draw(st.integers(0, 9)) > 0:
        tags = dict(draw(st.sampled_from([PATCH_TAG, {}, {"ep:asg:patch": "false"}, PATCH_TAG, PATCH_TAG])))
        lease = draw(st.sampled_from(["ours", "ours", "ours", "other", "expired", "none", "garbage"]))
        holder = job.driver if lease in ("ours", "expired") else "20261126T040000Z-ffff"
        expires = now - 1 if lease == "expired" else now + 600
        if lease != "none":
            tags[LEASE_TAG] = "not a lease" if lease == "garbage" else lease_value(holder, expires)
        # Mostly the job's own state (a job past PENDING acts only while the group's state names its run),
        # sometimes another run's or none (that run moved on).
        state = draw(st.sampled_from(["ours", "ours", "ours", "ours", "other", "none"]))
        if state == "ours" and job.phase is not Phase.PENDING:
            tags[STATE_TAG] = encode(job)
        elif state == "other":
            tags[STATE_TAG] = f"2|20261126T040000Z-ffff|{job.phase.value}|..."
        template = None
        if draw(st.integers(0, 5)) > 0:
            template = TemplateRef(draw(specs), draw(st.booleans()), tuple(draw(st.lists(specs, max_size=3))))
        group = GroupView(
            "web",
            draw(capacities),
            tags,
            suspended=draw(processes),
            instances=draw(instances()),
            template=template,
            launch_configuration=draw(st.none() | st.just("old-lc")),
            failed_launch=draw(st.none() | st.just("Insufficient capacity")),
        )
    present = draw(st.lists(st.sampled_from(TEMPLATE_IDS), unique=True))
    statuses, details = st.sampled_from(COMMAND_STATUSES), st.sampled_from(["", "exit 1"])
    command = draw(st.none() | st.builds(CommandView, st.sampled_from(["c-1", "c-2"]), statuses, details))
    image = draw(st.none() | st.builds(ImageView, st.sampled_from(["ami-9", "ami-8"]), st.sampled_from(IMAGE_STATES)))
    return Observation(now, group, {t: draw(template_views(t)) for t in present}, command, image)


@st.composite
def situations(draw: st.DrawFn) -> tuple[Job, Observation]:
    job = draw(jobs())
    return job, draw(observations(job))


# Which recorded phase licenses each side effect (the last WriteState before it in the decision, or —
# when there is none — the job as it came in, which is what the group's tag says).
LICENSES: dict[type, frozenset[Phase]] = {
    SuspendProcesses: frozenset({Phase.PREPARING}),
    SetCapacity: frozenset({Phase.LAUNCHING, Phase.RESTORING}),
    SendPatchCommand: frozenset({Phase.PATCHING}),
    CreateImage: frozenset({Phase.IMAGING}),
    CreateTemplateVersion: frozenset({Phase.UPDATING_TEMPLATE}),
    TerminateInstance: frozenset({Phase.RESTORING}),
    ResumeProcesses: frozenset({Phase.RESTORING}),
    SetDefaultVersion: frozenset({Phase.UPDATING_TEMPLATE, Phase.RESTORING}),
    UseTemplateVersion: frozenset({Phase.UPDATING_TEMPLATE, Phase.RESTORING}),
}
# A relaunch terminates the lost patch instance (without decrementing) before it records the relaunch:
# a crash in between leaves the instance leaving, and the next run relaunches the same way.
RELAUNCH_LICENSE = frozenset({Phase.WAITING_INSTANCE, Phase.PATCHING, Phase.IMAGING, Phase.RESTORING})
CREATING = (SendPatchCommand, CreateImage, CreateTemplateVersion)
GROUP_CHANGING = (SuspendProcesses, SetCapacity, SendPatchCommand, CreateImage, CreateTemplateVersion)


def recorded_before(job: Job, actions: Sequence[Action], index: int) -> Job:
    """The job the group's state tag holds when actions[index] runs."""
    writes = [a.job for a in actions[:index] if isinstance(a, WriteState)]
    return writes[-1] if writes else job


@PROPERTY_SETTINGS
@given(situations())
def test_decide_never_raises_and_answers_only_actions(situation: tuple[Job, Observation]):
    """Whatever it is shown, decide answers with a job and a tuple of model actions."""
    job, obs = situation
    decision = decide(job, obs, DECIDE_SETTINGS)
    event(f"{job.phase.value} -> {decision.job.phase.value}")
    assert isinstance(decision.job, Job) and decision.job.group == job.group
    assert isinstance(decision.actions, tuple)
    assert all(isinstance(action, Action) for action in decision.actions), decision.actions  # type: ignore[arg-type]


@PROPERTY_SETTINGS
@given(situations())
def test_every_side_effect_is_recorded_on_the_group_first(situation: tuple[Job, Observation]):
    """A side effect runs only when the state the group carries by then names its phase: so a crash
    right after it leaves a tag from which the next run knows it happened (or may have)."""
    job, obs = situation
    decision = decide(job, obs, DECIDE_SETTINGS)
    actions = decision.actions
    for index, action in enumerate(actions):
        licensed = LICENSES.get(type(action))
        if isinstance(action, TerminateInstance) and not action.decrement:
            licensed = RELAUNCH_LICENSE
            event("relaunch: a lost patch instance is terminated for a replacement")
        if licensed is not None:
            recorded = recorded_before(job, actions, index)
            assert recorded.phase in licensed, f"{type(action).__name__} under a tag saying {recorded.phase}"
    first = next((i for i, a in enumerate(actions) if isinstance(a, GROUP_CHANGING)), None)
    if first is not None and decision.job.phase is not job.phase:
        written = any(isinstance(a, WriteState) for a in actions[:first])
        already = job.phase in LICENSES[type(actions[first])]  # a resumed PREPARING finishing its suspends
        assert written or already, f"{job.phase} -> {decision.job.phase} changes the group first: {actions}"


@PROPERTY_SETTINGS
@given(situations())
def test_side_effects_stay_within_what_the_run_recorded(situation: tuple[Job, Observation]):
    """Only the recorded patch instance is protected, patched, imaged or terminated; only processes the
    run recorded as its own are suspended or resumed; a new version is put to use only by a patch that
    succeeded, and it is the run's own; a group being restored is never patched further."""
    job, obs = situation
    decision = decide(job, obs, DECIDE_SETTINGS)
    for index, action in enumerate(decision.actions):
        recorded = recorded_before(job, decision.actions, index)
        if isinstance(action, ProtectInstance | TerminateInstance | SendPatchCommand | CreateImage):
            assert action.instance_id == (recorded.instance_id or ""), (
                f"{action} but the tag names {recorded.instance_id}"
            )
        if isinstance(action, ProtectInstance) and action.protected:
            assert recorded.phase in NEEDS_INSTANCE, f"{action} while {recorded.phase}"
        if isinstance(action, TerminateInstance):
            assert not recorded.was_at_zero, "a group at zero is restored by its capacity, not by terminating"
        if isinstance(action, SuspendProcesses | ResumeProcesses):
            assert action.processes <= recorded.we_suspended, f"{action} beyond {recorded.we_suspended}"
        if isinstance(action, SetDefaultVersion | UseTemplateVersion):
            assert recorded.outcome is not Outcome.FAILED, f"{action} for a failed group"
            assert decision.job.outcome is Outcome.PATCHED, f"{action}, yet the group ends {decision.job.outcome}"
            if action.template_id == recorded.template_id:
                assert action.version == decision.job.new_version, f"{action}, the run made {decision.job.new_version}"
    if job.phase is Phase.RESTORING:
        assert not any(isinstance(a, CREATING) for a in decision.actions), decision.actions
        assert decision.job.phase in (Phase.RESTORING, Phase.DONE)


@PROPERTY_SETTINGS
@given(situations())
def test_a_new_phase_is_exactly_what_the_tag_says(situation: tuple[Job, Observation]):
    """When decide moves a job to a new phase (other than DONE), the decision writes that very job to
    the tag, so a run that dies right after resumes from where this one was. The one exception: an
    instance that never came up sends the job back to LAUNCHING in memory only (the tag still names the
    dead instance, and a resumed run sees it gone and waits for the next launch the same way). A
    relaunch (one more than the job had) is written like any other move."""
    job, obs = situation
    decision = decide(job, obs, DECIDE_SETTINGS)
    new = decision.job
    if new.phase in (job.phase, Phase.DONE):
        return
    if (job.phase, new.phase) == (Phase.WAITING_INSTANCE, Phase.LAUNCHING) and new.relaunches == job.relaunches:
        assert decision.actions == ()
        return
    writes = [a.job for a in decision.actions if isinstance(a, WriteState)]
    assert writes and writes[-1] == new, f"{job.phase} -> {new.phase} with writes {[w.phase for w in writes]}"


@PROPERTY_SETTINGS
@given(situations())
def test_capacity_requests_are_valid(situation: tuple[Job, Observation]):
    """Every SetCapacity asks for sizes Auto Scaling accepts: none negative, min <= desired <= max
    (fields left out keep the group's current value)."""
    job, obs = situation
    decision = decide(job, obs, DECIDE_SETTINGS)
    for action in decision.actions:
        if isinstance(action, SetCapacity):
            assert obs.group is not None
            current = obs.group.capacity
            low = current.min if action.min is None else action.min
            high = current.max if action.max is None else action.max
            desired = current.desired if action.desired is None else action.desired
            assert min(low, high, desired) >= 0, action
            assert low <= desired <= high, f"{action} on {current} (recorded {job.original})"


@st.composite
def lost_patch_instances(draw: st.DrawFn) -> tuple[Job, Observation, str]:
    """A job past launching whose patch instance someone took away: gone, leaving, or dead but listed."""
    how = draw(st.sampled_from(["gone", "leaving", "dead"]))
    job = Job(
        "web", RUN, draw(st.sampled_from([Phase.WAITING_INSTANCE, Phase.PATCHING, Phase.IMAGING])),
        phase_started=NOW - 60, original=draw(capacities), we_suspended=ISOLATING_PROCESSES,
        launch_requested=NOW - 600, instance_id="i-1", ready_at=NOW - 300, template_id="lt-1", source_version=1,
        relaunches=draw(st.integers(0, 1)), owner=RUN, claimed=True,
    )  # fmt: skip
    serving = tuple(i for i in draw(instances()) if i.instance_id != "i-1")
    lost = InstanceView(
        "i-1",
        draw(st.sampled_from(sorted(LEAVING))) if how == "leaving" else "InService",
        protected=True,
        ec2_state=draw(st.sampled_from(sorted(DEAD))) if how == "dead" else draw(st.sampled_from(EC2_STATES)),
        launch_time=NOW - 400,
    )
    listed = serving if how == "gone" else (*serving, lost)
    tags = {**PATCH_TAG, LEASE_TAG: lease_value(RUN, NOW + 600), STATE_TAG: encode(job)}
    group = GroupView("web", draw(capacities), tags, suspended=ISOLATING_PROCESSES, instances=listed,
                      template=TemplateRef(TemplateSpec("lt-1", "1")))  # fmt: skip
    return job, Observation(NOW, group), how


@PROPERTY_SETTINGS
@given(lost_patch_instances())
def test_a_lost_patch_instance_is_relaunched_once_then_the_group_fails(lost: tuple[Job, Observation, str]):
    """The first loss: back to LAUNCHING with the relaunch recorded, the lost instance remembered (never
    taken for the new one), and — only when it is still listed — terminated without decrementing so the
    group launches a replacement; no other instance is touched. The second loss fails the group."""
    job, obs, how = lost
    decision = decide(job, obs, DECIDE_SETTINGS)
    event(f"{how}, relaunched before: {job.relaunches}")
    if job.relaunches:
        assert decision.job.phase is Phase.RESTORING and decision.job.outcome is Outcome.FAILED
        assert "after 1 relaunch(es)" in decision.job.reason
        return
    relaunched = decision.job
    assert (relaunched.phase, relaunched.relaunches, relaunched.instance_id) == (Phase.LAUNCHING, 1, None)
    assert relaunched.launch_requested == NOW and was_there("i-1", relaunched.preexisting)
    expected = (TerminateInstance("i-1", decrement=False),) if how == "dead" else ()
    assert decision.actions == (*expected, WriteState(relaunched))


# --- gaps these properties found, now fixed: each stays as a regression test -------------------


def _one_run(cloud: FakeCloud, clock: FakeClock, run_id: str, on_action: Any = None) -> dict[str, Any]:
    config = RunConfig(poll_seconds=POLL, settings=ENGINE_SETTINGS)
    return runner.run(cloud, config, run_id, clock, on_action=on_action)


def _kill_when(predicate: Any) -> Any:
    def hook(action: Action) -> None:
        if predicate(action):
            raise Killed

    return hook


def _crash_then_resume(cloud: FakeCloud, clock: FakeClock, predicate: Any) -> dict[str, Any]:
    with pytest.raises(Killed):
        _one_run(cloud, clock, RUN, _kill_when(predicate))
    clock.sleep(ENGINE_SETTINGS.lease_seconds + POLL)
    return _one_run(cloud, clock, "20261127T050000Z-beef")


def test_a_group_reported_patched_launches_its_new_image():
    clock = FakeClock()
    cloud = FakeCloud(clock)
    cloud.add_group("web", Capacity(0, 2, 0), version="$Default")
    cloud.errors_left[SetDefaultVersion] = 2  # once is looked at again (and succeeds the next tick)
    entry = _one_run(cloud, clock, RUN)["groups"][0]
    assert STATE_TAG not in cloud.groups["web"].tags
    # The step that points the group at the new version failed twice: the report must say so, and
    # the group must still launch an image that exists (the old one).
    assert entry["status"] == "failed" and "updating-template" in entry["reason"]
    assert cloud.image_in_use("web") == BASE_IMAGE


def test_a_resumed_run_never_takes_a_serving_instance_for_its_own():
    """30 serving instances: more than the state tag can list (a dozen or so fit)."""
    clock = FakeClock()
    cloud = FakeCloud(clock)
    group = cloud.add_group("api", Capacity(30, 31, 30))
    serving = {i.instance_id for i in group.instances}
    group.doomed_launches = 1  # the first instance the run launches fails; Auto Scaling launches another
    clock.sleep(3600)
    report = _crash_then_resume(cloud, clock, lambda a: isinstance(a, WriteState) and a.job.phase is Phase.PREPARING)
    assert report["groups"][0]["status"] == "patched"
    touched = {a.instance_id for a in cloud.calls if isinstance(a, SendPatchCommand | CreateImage | TerminateInstance)}
    assert not serving & touched, f"serving instances {sorted(serving & touched)} were patched, imaged or terminated"
    assert serving <= {i.instance_id for i in group.instances if not i.terminated}


def test_a_read_that_fails_once_only_slows_the_run():
    clock = FakeClock()
    cloud = FakeCloud(clock)
    cloud.add_group("web", Capacity(0, 2, 0))
    ticks = {"n": 0}

    def on_tick(jobs: Sequence[Job], now: float) -> None:
        ticks["n"] += 1
        if ticks["n"] == 3:
            cloud.observe_errors_left = 1  # the fourth tick's read fails, once

    report = runner.run(cloud, RunConfig(poll_seconds=POLL, settings=ENGINE_SETTINGS), RUN, clock, on_tick=on_tick)
    assert report["groups"][0]["status"] == "patched"
    assert STATE_TAG not in cloud.groups["web"].tags


def test_a_state_read_before_another_run_finished_is_not_acted_on():
    clock = FakeClock()
    cloud = FakeCloud(clock)
    cloud.add_group("web", Capacity(0, 2, 0), version="$Default", tags={"team": "a"})
    team_a = Engine(cloud, replace(ENGINE_SETTINGS, tag_key="team", tag_value="a"), clock, poll_seconds=POLL)
    jobs = [Job("web", RUN, owner=RUN)]
    while jobs[0].phase is not Phase.UPDATING_TEMPLATE:
        jobs = team_a.tick(jobs)
        clock.sleep(POLL)
    other = "20261127T041500Z-beef"  # a run for the default tag starts now and reads the groups in flight
    started = runner.start(cloud, RunConfig(poll_seconds=POLL, settings=ENGINE_SETTINGS), other, clock)
    assert [job.group for job in started.intake.jobs] == ["web"]
    finished = team_a.run_until_done(jobs)[0]  # team a's run finishes the group before the other's first tick
    assert finished.outcome is Outcome.PATCHED and cloud.image_in_use("web") == finished.image_id
    Engine(cloud, ENGINE_SETTINGS, clock, poll_seconds=POLL).run_until_done(list(started.intake.jobs))
    assert not cloud.images_made[finished.image_id or ""].deregistered, "the image the group launches is gone"
    assert cloud.groups["web"].tags[RESULT_TAG].startswith(f"{RUN} patched ")


def test_a_restore_given_up_keeps_the_state_and_gives_back_the_lease():
    """After five failed restore attempts a run stops working on the group: the state tag stays (for
    `recover`), and the lease goes, so a run started right after takes the group up at once instead of
    leaving it to one that has given up."""
    clock = FakeClock()
    cloud = FakeCloud(clock)
    cloud.add_group("web", Capacity(0, 2, 0), fail={"patch": "fail"})
    cloud.errors[ResumeProcesses] = CloudError("AccessDenied", "no resuming", "ResumeProcesses")
    first = _one_run(cloud, clock, RUN)["groups"][0]
    assert first["status"] == "failed" and "restore incomplete" in first["reason"]
    assert STATE_TAG in cloud.groups["web"].tags and LEASE_TAG not in cloud.groups["web"].tags
    del cloud.errors[ResumeProcesses]
    again = _one_run(cloud, clock, "20261127T050000Z-beef")["groups"][0]
    assert again["status"] == "failed" and "left to" not in again["reason"], again
    assert cloud.groups["web"].suspended == set() and STATE_TAG not in cloud.groups["web"].tags
