"""The engine end to end on the in-memory cloud: every phase, failure and timeout, no sleeping."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from asgpatch import runner
from asgpatch.actions import (
    CreateImage,
    ProtectInstance,
    SendPatchCommand,
    SetCapacity,
    SetDefaultVersion,
    TerminateInstance,
    UseTemplateVersion,
    WriteLease,
    WriteState,
)
from asgpatch.clock import FakeClock
from asgpatch.cloud import CloudError
from asgpatch.config import RunConfig
from asgpatch.model import Capacity, Job, Outcome, Phase, ScheduledAction, Settings
from asgpatch.state import RESULT_TAG, STATE_TAG
from asgpatch.tick import Engine
from tests.fakes import FAKE_TEMPLATE, FakeCloud

RUN = "20261127T040000Z-abcd"
FAST = Settings(launch_timeout=600, ssm_timeout=600, patch_timeout=3600, image_timeout=3600)


def _engine(cloud: FakeCloud, clock: FakeClock, settings: Settings = FAST, concurrency: int = 10) -> Engine:
    return Engine(cloud, settings, clock, concurrency=concurrency, poll_seconds=10)


def _run(cloud: FakeCloud, clock: FakeClock, *names: str, settings: Settings = FAST) -> dict[str, Job]:
    jobs = [Job(group=name, run_id=RUN) for name in names]
    return {job.group: job for job in _engine(cloud, clock, settings).run_until_done(jobs)}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def cloud(clock: FakeClock) -> FakeCloud:
    return FakeCloud(clock)


def _restored(cloud: FakeCloud, name: str, capacity: Capacity, suspended: frozenset[str] = frozenset()) -> None:
    group = cloud.groups[name]
    assert group.capacity == capacity
    assert group.suspended == set(suspended)
    assert STATE_TAG not in group.tags
    assert not [i for i in group.instances if not i.terminated and i.protected]


def test_a_group_at_zero_is_patched_and_put_back_exactly(cloud, clock):
    cloud.add_group("web", Capacity(0, 2, 0), version="$Default", suspended={"AlarmNotification"})
    job = _run(cloud, clock, "web")["web"]

    assert (job.phase, job.outcome) == (Phase.DONE, Outcome.PATCHED), job.reason
    assert job.new_version == 2 and job.source_version == 1
    assert cloud.templates[FAKE_TEMPLATE].default == 2, "$Default groups get the new version as default"
    assert cloud.image_in_use("web") == job.image_id
    _restored(cloud, "web", Capacity(0, 2, 0), frozenset({"AlarmNotification"}))
    assert cloud.groups["web"].tags[RESULT_TAG].startswith(f"{RUN} patched {job.image_id}")
    assert all(i.terminated for i in cloud.groups["web"].instances), "the patch instance is gone"
    assert clock.sleeps and all(s == 10 for s in clock.sleeps)


def test_the_state_tag_is_written_before_each_side_effect(cloud, clock):
    cloud.add_group("web")
    _run(cloud, clock, "web")
    kinds = [type(a).__name__ for a in cloud.calls if not isinstance(a, WriteLease)]
    assert kinds[0] == "WriteState"
    assert isinstance(cloud.calls[0], WriteLease), "the group is claimed before anything else"
    for effect in ("SuspendProcesses", "SetCapacity", "SendPatchCommand", "CreateImage", "CreateTemplateVersion"):
        index = kinds.index(effect)
        assert kinds[index - 1] == "WriteState", f"{effect} must follow a state write"


@pytest.mark.parametrize(
    ("version", "expect_use", "expect_default"),
    [("1", True, 1), ("$Latest", False, 1), ("$Default", False, 2)],
)
def test_each_version_spec_is_followed(cloud, clock, version, expect_use, expect_default):
    cloud.add_group("app", version=version)
    job = _run(cloud, clock, "app")["app"]
    assert job.outcome is Outcome.PATCHED
    uses = [a for a in cloud.calls if isinstance(a, UseTemplateVersion)]
    assert bool(uses) is expect_use
    assert cloud.templates[FAKE_TEMPLATE].default == expect_default
    assert cloud.image_in_use("app") == job.image_id


def test_mixed_instances_policy_groups_are_pointed_inside_the_policy(cloud, clock):
    cloud.add_group("mixed", version="1", mixed=True)
    _run(cloud, clock, "mixed")
    uses = [a for a in cloud.calls if isinstance(a, UseTemplateVersion)]
    assert uses and uses[0].mixed_policy


def test_a_running_group_gets_one_extra_instance_and_exactly_that_one_leaves(cloud, clock):
    group = cloud.add_group("api", Capacity(1, 1, 1))
    serving = group.instances[0].instance_id
    clock.current += 120
    job = _run(cloud, clock, "api")["api"]

    assert job.outcome is Outcome.PATCHED
    assert job.instance_id != serving
    scale_up = next(a for a in cloud.calls if isinstance(a, SetCapacity))
    assert (scale_up.desired, scale_up.max) == (2, 2), "max raised to make room for the extra instance"
    _restored(cloud, "api", Capacity(1, 1, 1))
    live = [i.instance_id for i in cloud.groups["api"].instances if not i.terminated]
    assert live == [serving], "the serving instance was never touched"


def test_groups_with_a_launch_configuration_are_skipped_untouched(cloud, clock):
    cloud.add_group("old", template_id=None)
    job = _run(cloud, clock, "old")["old"]
    assert job.outcome is Outcome.SKIPPED
    assert "launch configuration" in job.reason
    assert [type(a).__name__ for a in cloud.calls] == ["WriteLease", "ClearState"], "only the claim, given back"
    assert set(cloud.groups["old"].tags) == {"ep:asg:patch"}


@pytest.mark.parametrize(
    ("failure", "phase_word"),
    [
        ({"launch": "fail"}, "InService"),
        ({"ssm": "offline"}, "SSM agent"),
        ({"patch": "fail"}, "AWS-RunPatchBaseline ended Failed"),
        ({"patch": "hang"}, "did not finish within"),
        ({"image": "fail"}, "failed"),
    ],
)
def test_each_failure_restores_the_group_and_cleans_up(cloud, clock, failure, phase_word):
    cloud.add_group("bad", Capacity(0, 3, 0), fail=failure)
    settings = Settings(launch_timeout=300, ssm_timeout=300, patch_timeout=900, image_timeout=900)
    job = _run(cloud, clock, "bad", settings=settings)["bad"]

    assert job.outcome is Outcome.FAILED
    assert phase_word in job.reason
    _restored(cloud, "bad", Capacity(0, 3, 0))
    assert cloud.groups["bad"].tags[RESULT_TAG].startswith(f"{RUN} failed")
    assert cloud.templates[FAKE_TEMPLATE].default == 1, "a failed group's template is not changed"
    assert all(c.cancelled or failure.get("patch") != "hang" for c in cloud.commands.values())
    assert all(i.deregistered for i in cloud.images_made.values()), "a failed image is deregistered"


def test_an_api_error_fails_the_group_and_still_restores_it(cloud, clock):
    cloud.add_group("web")
    cloud.errors[SendPatchCommand] = CloudError("AccessDeniedException", "not allowed", "SendCommand")
    job = _run(cloud, clock, "web")["web"]
    assert job.outcome is Outcome.FAILED
    assert "AccessDeniedException" in job.reason
    _restored(cloud, "web", Capacity(0, 2, 0))


def test_a_failing_first_write_changes_nothing(cloud, clock):
    cloud.add_group("web")
    cloud.errors[WriteState] = CloudError("AccessDenied", "no tagging", "CreateOrUpdateTags")
    job = _run(cloud, clock, "web")["web"]
    assert job.outcome is Outcome.FAILED and job.reason.startswith("not started")
    assert [type(a).__name__ for a in cloud.calls] == ["WriteLease", "WriteState", "ClearState"]
    assert set(cloud.groups["web"].tags) == {"ep:asg:patch"}, "nothing left behind"


def test_concurrency_limits_groups_in_flight(cloud, clock):
    for index in range(5):
        cloud.add_group(f"g{index}")
    engine = _engine(cloud, clock, concurrency=2)
    jobs = [Job(group=f"g{index}", run_id=RUN) for index in range(5)]
    peak = 0
    while not all(j.done for j in jobs):
        jobs = engine.tick(jobs)
        peak = max(peak, sum(j.phase not in (Phase.PENDING, Phase.DONE) for j in jobs))
        clock.sleep(10)
    assert peak == 2
    assert all(j.outcome is Outcome.PATCHED for j in jobs)


def test_one_observe_per_tick_for_all_groups(cloud, clock):
    for index in range(20):
        cloud.add_group(f"g{index}")
    engine = _engine(cloud, clock, concurrency=20)
    jobs = [Job(group=f"g{index}", run_id=RUN) for index in range(20)]
    ticks = 0
    while not all(j.done for j in jobs):
        jobs = engine.tick(jobs)
        ticks += 1
        clock.sleep(10)
    assert cloud.observed == ticks


def test_a_deleted_group_is_reported_and_its_image_cleaned_up(cloud, clock):
    cloud.add_group("doomed")
    engine = _engine(cloud, clock)
    jobs = [Job(group="doomed", run_id=RUN)]
    while jobs[0].phase is not Phase.IMAGING:
        jobs = engine.tick(jobs)
        clock.sleep(10)
    del cloud.groups["doomed"]
    jobs = engine.run_until_done(jobs)
    assert jobs[0].outcome is Outcome.FAILED
    assert "no longer exists" in jobs[0].reason
    assert all(i.deregistered for i in cloud.images_made.values())


@pytest.mark.parametrize("capacity", [Capacity(0, 2, 0), Capacity(1, 3, 2)], ids=["at-zero", "running"])
def test_a_patch_instance_terminated_by_someone_is_relaunched_once(cloud, clock, capacity):
    cloud.add_group("web", capacity, fail={"kill": "once"})
    serving = {i.instance_id for i in cloud.groups["web"].instances}
    job = _run(cloud, clock, "web")["web"]
    assert job.outcome is Outcome.PATCHED and job.relaunches == 1, job.reason
    assert "was lost while patching (terminated); launched another" in job.reason
    commands = [c for c in cloud.commands.values() if c.group == "web"]
    assert len(commands) == 2 and commands[0].instance_id != commands[1].instance_id
    assert len([i for i in cloud.images_made.values() if i.group == "web"]) == 1
    _restored(cloud, "web", capacity)
    left = {i.instance_id for i in cloud.groups["web"].instances if not i.terminated}
    assert left == serving and not any(i.dead for i in cloud.groups["web"].instances if not i.terminated)
    assert "launched another" in cloud.groups["web"].tags[RESULT_TAG]


@pytest.mark.parametrize(
    ("when", "note"), [("before-send", "while patching"), ("before-image", "before its image was taken")]
)
def test_a_patch_instance_terminated_just_before_a_call_on_it_is_relaunched(cloud, clock, when, note):
    """Terminated between the tick's read and SendCommand/CreateImage: the call fails the way AWS
    answers for a terminated instance, and the next read (not the error) decides: relaunch."""
    cloud.add_group("web", Capacity(0, 2, 0), fail={"kill": when})
    job = _run(cloud, clock, "web")["web"]
    assert job.outcome is Outcome.PATCHED and job.relaunches == 1, job.reason
    assert f"was lost {note} (terminated); launched another" in job.reason
    assert len([i for i in cloud.images_made.values() if i.group == "web"]) == 1
    _restored(cloud, "web", Capacity(0, 2, 0))


def test_a_step_that_fails_once_is_looked_at_again_and_the_group_is_patched(cloud, clock):
    """An error that outlived the adapter's retries does not fail the group at once: the next tick
    reads the world again and decides, as a run resuming after a crash at that action would."""
    cloud.add_group("web", Capacity(0, 2, 0))
    cloud.errors_left[CreateImage] = 1
    job = _run(cloud, clock, "web")["web"]
    assert job.outcome is Outcome.PATCHED, job.reason
    assert [type(a) for a in cloud.calls].count(CreateImage) == 2
    assert len(cloud.images_made) == 1
    _restored(cloud, "web", Capacity(0, 2, 0))


def test_a_failed_protection_is_asked_for_again_before_the_patch(cloud, clock):
    cloud.add_group("web", Capacity(1, 3, 2))
    cloud.errors_left[ProtectInstance] = 1
    job = _run(cloud, clock, "web")["web"]
    assert job.outcome is Outcome.PATCHED, job.reason
    assert [c.protected for c in cloud.commands.values()] == [True], "protected when it was patched"
    _restored(cloud, "web", Capacity(1, 3, 2))


def test_pointing_the_group_fails_once_then_it_launches_the_new_image(cloud, clock):
    cloud.add_group("web", Capacity(0, 2, 0), version="$Default")
    cloud.errors_left[SetDefaultVersion] = 1
    job = _run(cloud, clock, "web")["web"]
    assert job.outcome is Outcome.PATCHED, job.reason
    assert cloud.image_in_use("web") == job.image_id
    _restored(cloud, "web", Capacity(0, 2, 0))


def test_a_step_that_fails_twice_in_a_row_fails_the_group(cloud, clock):
    """The instance is fine but SendCommand keeps refusing it: one more look, then the group fails."""
    cloud.add_group("web", Capacity(0, 2, 0))
    cloud.errors[SendPatchCommand] = CloudError("InvalidInstanceId", "Instances not in a valid state", "SendCommand")
    job = _run(cloud, clock, "web")["web"]
    assert job.outcome is Outcome.FAILED and job.relaunches == 0
    assert job.reason == "patching: SendCommand: InvalidInstanceId: Instances not in a valid state"
    assert [type(a) for a in cloud.calls].count(SendPatchCommand) == 2
    _restored(cloud, "web", Capacity(0, 2, 0))


@pytest.mark.parametrize("capacity", [Capacity(0, 2, 0), Capacity(1, 3, 2)], ids=["at-zero", "running"])
def test_a_second_lost_patch_instance_fails_the_group_and_restores_it(cloud, clock, capacity):
    cloud.add_group("web", capacity, fail={"kill": "twice"})
    serving = {i.instance_id for i in cloud.groups["web"].instances}
    job = _run(cloud, clock, "web")["web"]
    assert job.outcome is Outcome.FAILED and "after 1 relaunch(es)" in job.reason
    _restored(cloud, "web", capacity)
    assert {i.instance_id for i in cloud.groups["web"].instances if not i.terminated} == serving
    assert cloud.images_made == {}


def _shared_run(
    cloud: FakeCloud, clock: FakeClock, settings: Settings = FAST, concurrency: int = 1
) -> dict[str, dict[str, Any]]:
    """`asgpatch run` on the fake: the run plans its bakes before it starts (runner.start)."""
    config = RunConfig(concurrency=concurrency, poll_seconds=10, settings=settings)
    report = runner.run(cloud, config, RUN, clock)
    return {entry["name"]: entry for entry in report["groups"]}


def test_groups_on_one_version_share_one_bake_whatever_the_concurrency(cloud, clock):
    cloud.add_group("web-a", Capacity(0, 2, 0), version="$Default")
    cloud.add_group("web-b", Capacity(0, 2, 0), version="1")
    cloud.add_group("web-c", Capacity(0, 2, 0), version="$Latest")
    entries = _shared_run(cloud, clock, concurrency=1)
    assert [entries[n]["status"] for n in ("web-a", "web-b", "web-c")] == ["patched"] * 3
    made = [a for a in cloud.calls if isinstance(a, CreateImage)]
    assert len(made) == 1 and len({entries[n]["image_id"] for n in entries}) == 1
    assert {cloud.image_in_use(n) for n in ("web-a", "web-b", "web-c")} == {entries["web-a"]["image_id"]}
    scaled = {a.group for a in cloud.calls if isinstance(a, SetCapacity)}
    assert scaled == {"web-a"}, "only the host brings up a patch instance"


def test_a_bake_in_flight_at_the_deadline_still_patches_the_groups_that_share_it(cloud, clock):
    cloud.add_group("web-a", Capacity(0, 2, 0), version="1")
    cloud.add_group("web-b", Capacity(0, 2, 0), version="1")
    deadline = clock.now() + 60  # the host is launching when it passes
    entries = _shared_run(cloud, clock, settings=replace(FAST, deadline=deadline))
    assert entries["web-a"]["status"] == entries["web-b"]["status"] == "patched"
    assert cloud.image_in_use("web-b") == entries["web-a"]["image_id"]


def test_a_schedule_that_came_due_during_the_run_is_applied_on_restore(cloud, clock):
    group = cloud.add_group("web", Capacity(0, 4, 0), version="1")
    due_at = clock.now() + 120  # while the patch instance is patching
    group.scheduled = [
        ScheduledAction("morning", start=due_at, min=1, max=4, desired=2),
        ScheduledAction("later", start=clock.now() + 86_400, desired=4),
    ]
    entries = _shared_run(cloud, clock)
    assert entries["web"]["status"] == "patched"
    assert cloud.groups["web"].capacity == Capacity(1, 4, 2)
    assert (
        "scheduled morning (due" in entries["web"]["reason"] and "applied on restore: 1/4/2" in entries["web"]["reason"]
    )
    patch_instance = entries["web"]["instance_id"]
    assert TerminateInstance(patch_instance, decrement=False) in cloud.calls, "replaced by one from the patched image"
    assert cloud.groups["web"].suspended == set()
