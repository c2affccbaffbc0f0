"""A run over several (account, region) shards: a group is (account, region, name) — the same name in two
regions is two groups, each patched in its own region with calls to that region only — and the run's
state, report and budget carry every group's shard. On in-memory clouds, one per region."""

from __future__ import annotations

import pytest

from asgpatch import runner
from asgpatch.actions import WriteState
from asgpatch.clock import FakeClock
from asgpatch.config import RunConfig
from asgpatch.model import Capacity
from asgpatch.run_state import decode, encode
from asgpatch.shards import Shard
from asgpatch.state import STATE_TAG
from tests.fakes import FakeCloud, FakeTemplate

ACCOUNT = "111122223333"
RUN = "20261209T040000Z-5c5c"


def two_regions(clock: FakeClock) -> tuple[Shard, Shard]:
    east, west = FakeCloud(clock), FakeCloud(clock)
    east.add_group("web", Capacity(0, 2, 0))
    east.templates["lt-0e1e2e3e4e5e6e7e8"] = FakeTemplate("lt-0e1e2e3e4e5e6e7e8")  # its own: no shared bake
    east.add_group("east-only", Capacity(1, 3, 2), template_id="lt-0e1e2e3e4e5e6e7e8")
    west.add_group("web", Capacity(0, 4, 0))
    return Shard(east, "us-east-1", ACCOUNT), Shard(west, "eu-west-1", ACCOUNT)


def test_the_same_name_in_two_regions_is_two_groups_each_patched_in_its_own_region() -> None:
    clock = FakeClock()
    east, west = two_regions(clock)
    report = runner.run((east, west), RunConfig(poll_seconds=10), RUN, clock)
    entries = {(g["region"], g["name"]): g for g in report["groups"]}
    assert set(entries) == {("us-east-1", "web"), ("us-east-1", "east-only"), ("eu-west-1", "web")}
    assert {g["account"] for g in report["groups"]} == {ACCOUNT}
    assert {g["status"] for g in report["groups"]} == {"patched"}
    for shard, capacity in ((east, Capacity(0, 2, 0)), (west, Capacity(0, 4, 0))):
        cloud = shard.cloud
        assert isinstance(cloud, FakeCloud)
        web = cloud.groups["web"]
        assert web.capacity == capacity and STATE_TAG not in web.tags, f"{shard.region}: restored as it was"
        assert entries[(shard.region, "web")]["image_id"] in cloud.images_made, "the image is the region's own"
    west_cloud = west.cloud
    assert isinstance(west_cloud, FakeCloud)
    written = {a.job.group for a in west_cloud.calls if isinstance(a, WriteState)}
    assert written == {"web"}, "no call for an east group went to the west"
    assert all(a.job.region == "eu-west-1" for a in west_cloud.calls if isinstance(a, WriteState))


def test_a_stored_multi_region_run_round_trips_and_refuses_a_job_no_shard_holds() -> None:
    clock = FakeClock()
    east, west = two_regions(clock)
    config = RunConfig(poll_seconds=10)
    state = runner.new_state(runner.start_all((east, west), config, RUN, clock), config)
    assert decode(encode(state)) == state
    assert state.shards == ((ACCOUNT, "us-east-1"), (ACCOUNT, "eu-west-1"))
    assert sorted((j.region, j.group) for j in state.jobs) == [
        ("eu-west-1", "web"), ("us-east-1", "east-only"), ("us-east-1", "web")
    ]  # fmt: skip
    with pytest.raises(LookupError, match="eu-west-1"):
        runner.tick_state(state, (east,), clock)  # a tick given fewer regions than the run covers


def test_a_named_group_need_only_exist_in_one_region_and_one_in_none_is_bad_usage() -> None:
    clock = FakeClock()
    east, west = two_regions(clock)
    started = runner.start_all((east, west), RunConfig(asg_names=("east-only",)), RUN, clock)
    assert [(s.region, [j.group for j in s.intake.jobs]) for s in started] == [("us-east-1", ["east-only"])]
    with pytest.raises(runner.UsageError, match="nowhere-group"):
        runner.start_all((east, west), RunConfig(asg_names=("nowhere-group",)), RUN, clock)


def test_a_budget_spent_in_the_first_region_leaves_the_second_to_the_next_tick_which_starts_there() -> None:
    clock = FakeClock()
    east, west = two_regions(clock)
    config = RunConfig(poll_seconds=10)
    state = runner.new_state(runner.start_all((east, west), config, RUN, clock), config)
    ticked = runner.tick_state(state, (east, west), clock, out_of_time=lambda: True)
    assert ("111122223333", "eu-west-1", "web") in ticked.not_reached
    order: list[str] = []
    runner.tick_state(ticked, (east, west), clock, out_of_time=lambda: True,
                      on_decision=lambda group, decision: order.append(group))  # fmt: skip
    assert order and isinstance(west.cloud, FakeCloud) and west.cloud.calls, "the west was reached first"
