"""RunState: everything a run knows between ticks round-trips through JSON; a tick is state -> state, and
a run driven from stored state ends as the run loop does — also when a tick's save was lost."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asgpatch import catching_up, runner, state
from asgpatch.clock import FakeClock
from asgpatch.config import RunConfig
from asgpatch.model import Capacity, GroupView, Job, Observation, Outcome, PatchCounts, Phase, Settings
from asgpatch.report import GroupResult
from asgpatch.run_state import SCHEMA, RunState, RunStateError, decode, encode
from asgpatch.seal import SEAL_TAG, seal
from asgpatch.state import RESULT_TAG, STATE_TAG
from tests.fakes import FAKE_STATE_KEY, FakeCloud

RUN = "20261209T040000Z-beef"
FAST = Settings(launch_timeout=600, ssm_timeout=600, patch_timeout=3600, image_timeout=3600)
CONFIG = RunConfig(poll_seconds=10, settings=FAST)

names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=255)
jobs = st.builds(
    Job,
    group=names,
    run_id=st.just(RUN),
    phase=st.sampled_from(Phase),
    phase_started=st.floats(0, 2e9),
    original=st.none() | st.builds(Capacity, st.integers(0, 9), st.integers(0, 9), st.integers(0, 9)),
    was_suspended=st.frozensets(st.sampled_from(["Launch", "AZRebalance", "HealthCheck"])),
    instance_id=st.none() | st.just("i-0123456789abcdef0"),
    outcome=st.none() | st.sampled_from(Outcome),
    reason=st.text(max_size=300),
    patches=st.none() | st.builds(PatchCounts, st.integers(0, 99), st.integers(0, 9), st.integers(0, 9)),
    preexisting=st.frozensets(st.just("i-0fedcba9876543210")),
    claimed=st.booleans(),
    bake_with=st.none() | names,
    failures=st.integers(0, 5),
    last_error=st.sampled_from(["", "SetDesiredCapacity: Throttling: Rate exceeded"]),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(jobs, max_size=8), st.booleans())
def test_a_run_state_round_trips_through_json(job_list: list[Job], finished: bool) -> None:
    state = RunState(
        run_id=RUN, started_at=1.5, settings=FAST, concurrency=10, poll_seconds=15.0, jobs=tuple(job_list),
        not_taken=(GroupResult("skipped-one", "skipped", "has no launch template", capacity=Capacity(0, 1, 0)),),
        last_heartbeat=12.25, observe_errors=2, ticks=7,
        finished_at=99.0 if finished else None,
        results=(GroupResult("g", "patched", image_id="ami-1", patches=PatchCounts(3, 0, 0)),) if finished else (),
    )  # fmt: skip
    assert decode(encode(state)) == state


def test_a_document_this_asgpatch_cannot_read_is_refused_with_why() -> None:
    with pytest.raises(RunStateError, match="newer asgpatch"):
        decode(json.dumps({"schema": SCHEMA + 1}).encode())
    with pytest.raises(RunStateError, match="not JSON"):
        decode(b"{half")
    with pytest.raises(RunStateError, match="missing or malformed"):
        decode(json.dumps({"schema": SCHEMA, "run_id": "r"}).encode())


def test_a_schema_1_state_is_read_with_its_failure_counters_moved_onto_the_jobs() -> None:
    state = RunState(run_id=RUN, started_at=1.5, settings=FAST, concurrency=10, poll_seconds=15.0,
                     jobs=(Job("web", RUN), Job("api", RUN), Job("batch", RUN)))  # fmt: skip
    document = json.loads(encode(state))
    names = document["job_fields"]
    document["job_fields"] = [name for name in names if name not in ("failures", "last_error")]
    document["jobs"] = [[v for n, v in zip(names, row, strict=True) if n in document["job_fields"]]
                        for row in document["jobs"]]  # fmt: skip
    document.update(schema=1, restore_errors={"web": 3}, looked_again=["api"])
    read = decode(json.dumps(document).encode())
    assert [(job.group, job.failures) for job in read.jobs] == [("web", 3), ("api", 1), ("batch", 0)]
    assert read == replace(state, jobs=(replace(state.jobs[0], failures=3), replace(state.jobs[1], failures=1),
                                        state.jobs[2]))  # fmt: skip


def test_a_thousand_groups_stay_well_under_a_megabyte() -> None:
    job = Job(
        "g" * 255, RUN, Phase.PATCHING, 1.8e9, Capacity(0, 10, 0),
        was_suspended=frozenset({"AlarmNotification"}),
        we_suspended=frozenset({"AZRebalance", "ScheduledActions", "ReplaceUnhealthy", "AddToLoadBalancer"}),
        launch_requested=1.8e9, instance_id="i-0123456789abcdef0", ready_at=1.8e9,
        command_id="0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0", source_image="ami-0123456789abcdef0",
        template_id="lt-0123456789abcdef0", source_version=12, reason="a reason of some length " * 4, claimed=True,
    )  # fmt: skip
    state = RunState(RUN, 1.8e9, FAST, 100, 15.0, jobs=tuple(replace(job, group=f"{i:04d}" + "g" * 251)
                                                          for i in range(1000)))  # fmt: skip
    size = len(encode(state))
    assert size < 1_000_000, size


def drive(cloud: FakeCloud, clock: FakeClock, lose: set[int] = frozenset()) -> RunState:  # type: ignore[assignment]
    """Tick from stored state until the run is over; the ticks numbered in `lose` act but their save is
    lost (the invocation was killed after acting), so the next tick starts from the state before them."""
    stored = runner.new_state(runner.start(cloud, CONFIG, RUN, clock), CONFIG)
    number = 0
    while not stored.done:
        number += 1
        assert number < 200, "the run never ended"
        ticked = runner.tick_state(decode(encode(stored)), cloud, clock)
        if number not in lose:
            stored = ticked
        clock.sleep(CONFIG.poll_seconds)
    return stored


@pytest.mark.parametrize("lose", [set(), {2}, {3, 4}, {2, 5, 6, 9}], ids=["none", "one", "two", "many"])
def test_a_run_whose_ticks_lose_their_saves_ends_as_the_loop_does(lose: set[int]) -> None:
    clock = FakeClock()
    cloud = FakeCloud(clock)
    cloud.add_group("web", capacity=Capacity(0, 2, 0))
    cloud.add_group("api", capacity=Capacity(1, 3, 1))
    final = drive(cloud, clock, lose)
    statuses = {r.name: r.status for r in final.results}
    assert statuses == {"web": "patched", "api": "patched"}, [r.reason for r in final.results]
    for name, capacity in (("web", Capacity(0, 2, 0)), ("api", Capacity(1, 3, 1))):
        group = cloud.groups[name]
        assert group.capacity == capacity and STATE_TAG not in group.tags and group.suspended == set()
        assert group.tags[RESULT_TAG].startswith(f"{RUN} patched ")
    assert len(cloud.images_made) == 1, "one bake for the template version both launch, whatever ticks were lost"


def sealed_group(job: Job) -> GroupView:
    value, reason = state.encode(job), state.reason_value(job)
    tags = {STATE_TAG: value, state.REASON_TAG: reason, SEAL_TAG: seal(FAKE_STATE_KEY, job.group, value, reason)}
    return GroupView(job.group, Capacity(0, 2, 1), tags)


def caught_up(stored: Job, tag: Job, sealed: bool = True) -> Job:
    clock = FakeClock()
    group = sealed_group(tag)
    if not sealed:
        group = replace(group, tags={**group.tags, SEAL_TAG: "1:forged"})
    return catching_up.caught_up(stored, Observation(clock.now(), group), FakeCloud(clock).trusts)


RESTORING = Job("web", RUN, Phase.RESTORING, 1_800_000_100.4, Capacity(1, 3, 1), instance_id="i-0123456789abcdef0",
                outcome=Outcome.PATCHED, claimed=True)  # fmt: skip


def test_a_stored_job_behind_its_sealed_tag_is_caught_up_and_one_ahead_is_not_set_back() -> None:
    decremented = replace(RESTORING, decremented=True)
    assert caught_up(RESTORING, decremented).decremented is True  # the decrement a lost tick made counts
    assert caught_up(RESTORING, decremented, sealed=False) == RESTORING  # a forged tag is not obeyed
    pending = Job("web", RUN, claimed=True)
    assert caught_up(pending, RESTORING).phase is Phase.RESTORING and caught_up(pending, RESTORING).claimed
    ready = replace(RESTORING, phase=Phase.WAITING_INSTANCE, ready_at=1_800_000_200.0)
    tagged = replace(ready, ready_at=None)  # when it came up is kept in memory until the next state write
    assert caught_up(ready, tagged) == ready
    other_run = replace(RESTORING, run_id="20261209T050000Z-0000", decremented=True)
    assert caught_up(RESTORING, other_run) == RESTORING
