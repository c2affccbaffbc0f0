"""A tick's time budget: asked between groups, never inside one group's decision; the groups it leaves
go first next tick, every tick moves at least one group, and a run under a tight budget ends exactly
as an unhurried one does. On the in-memory cloud, each tick from the state round-tripped through JSON."""

from __future__ import annotations

from collections.abc import Callable

from asgpatch import runner, state
from asgpatch.clock import FakeClock
from asgpatch.config import RunConfig
from asgpatch.decision import Decision
from asgpatch.model import Capacity, Phase
from asgpatch.run_state import RunState, decode, encode
from asgpatch.state import STATE_TAG
from tests.fakes import FakeCloud, FakeTemplate

NAMES = ("api", "batch", "cron", "etl", "queue", "web")
RUN = "20261209T040000Z-7b7b"


def estate(clock: FakeClock) -> FakeCloud:
    cloud = FakeCloud(clock)
    for number, name in enumerate(NAMES):
        template = f"lt-0{number}a1b2c3d4e5f6789"  # one each: groups sharing a template share a bake
        cloud.templates[template] = FakeTemplate(template)
        cloud.add_group(name, Capacity(0, 2, 0) if number % 2 else Capacity(1, 4, 2), template_id=template)
    return cloud


def drive(cloud: FakeCloud, clock: FakeClock, budget: Callable[[list[str]], Callable[[], bool]] | None,
          seen: Callable[[RunState, list[str]], None] = lambda s, o: None) -> RunState:  # fmt: skip
    config = RunConfig(poll_seconds=10)
    current = runner.new_state(runner.start(cloud, config, RUN, clock), config)
    for _ in range(400):
        order: list[str] = []

        def record(group: str, decision: Decision, order: list[str] = order) -> None:
            order.append(group)

        out_of_time = budget(order) if budget is not None else None
        current = decode(encode(runner.tick_state(current, cloud, clock, on_decision=record, out_of_time=out_of_time)))
        seen(current, order)
        if current.done:
            return current
        # the next tick runs at once when this one left groups, a few seconds later (what a tick takes)
        clock.sleep(3 if current.not_reached else current.poll_seconds)
    raise AssertionError("the run never ended")


def outcome(cloud: FakeCloud, final: RunState) -> dict[str, tuple[str, Capacity, bool]]:
    return {r.name: (r.status, cloud.groups[r.name].capacity, STATE_TAG in cloud.groups[r.name].tags)
            for r in final.results}  # fmt: skip


def test_a_tight_budget_leaves_groups_to_the_next_tick_which_starts_with_them_and_ends_as_an_unhurried_run():
    clock = FakeClock()
    unhurried = estate(clock)
    expected = outcome(unhurried, drive(unhurried, clock, None))
    assert {status for status, _, _ in expected.values()} == {"patched"}

    clock = FakeClock()
    cloud = estate(clock)
    left: list[tuple[str, ...]] = []
    orders: list[list[str]] = []

    def two_groups(order: list[str]) -> Callable[[], bool]:
        return lambda: len(order) >= 2  # time is up once two groups have been stepped

    def check(stored: RunState, order: list[str]) -> None:
        if left and left[-1]:
            assert order[0] == left[-1][0][2], "the next tick starts with the groups the last one did not reach"
        left.append(stored.not_reached)
        orders.append(order)
        for job in stored.jobs:  # nothing half-recorded: a group's tag says what its stored job says
            tag = cloud.groups[job.group].tags.get(STATE_TAG)
            if not job.done and job.phase is not Phase.PENDING:
                assert tag is not None and state.decode(job.group, tag).phase is job.phase

    final = drive(cloud, clock, two_groups, check)
    assert any(left), "the budget ran out in some ticks"
    assert max(len(order) for order in orders) <= 2
    assert outcome(cloud, final) == expected, "the same end as the unhurried run"
    assert len(cloud.images_made) == len(NAMES), "one image per group, however the ticks were cut"


def test_a_budget_already_spent_still_moves_one_group_a_tick_and_the_run_ends():
    clock = FakeClock()
    cloud = estate(clock)
    orders: list[list[str]] = []
    final = drive(cloud, clock, lambda order: lambda: True, lambda s, order: orders.append(order))
    assert all(len(order) <= 1 for order in orders)
    assert {order[0] for order in orders if order} == set(NAMES), "no group starved"
    assert {result.status for result in final.results} == {"patched"}


def test_a_spent_budget_still_steps_a_group_when_the_first_in_order_is_finished_or_waiting_for_a_place():
    """Progress is a group stepped, not a group looked at: with --concurrency 1 and the budget spent, a
    finished group or one waiting for a place first in order does not end the tick before it moves."""
    clock = FakeClock()
    cloud = estate(clock)
    config = RunConfig(poll_seconds=10, concurrency=1)
    current = runner.new_state(runner.start(cloud, config, RUN, clock), config)
    stepped: list[int] = []
    for _ in range(400):
        order: list[str] = []
        current = runner.tick_state(current, cloud, clock, out_of_time=lambda: True,
                                    on_decision=lambda group, decision, order=order: order.append(group))  # fmt: skip
        stepped.append(len(order))
        if current.done:
            break
        clock.sleep(3 if current.not_reached else current.poll_seconds)
    assert current.done and {r.status for r in current.results} == {"patched"}
    assert min(stepped[:-1]) >= 1, "every tick stepped a group"
