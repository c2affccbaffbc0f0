"""`plan` as the run's own first ticks, carried out by an executor that only displays.

`plan` takes the run's first ticks — the same intake, the same RunState, the same `decide` on the same
observations — against a Cloud that reads the account and changes nothing: every action is kept, in
order, instead of being carried out. A lease it was asked to write is seen on its next read, as AWS
would show it, so the second tick gets as far as a real run's does (the claim, then the preparation);
beyond that the world would have to move (an instance launch), so the plan stops there. There is no
second copy of any verdict: what `plan` says is what the run's decisions are.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from asgpatch.actions import Action, ClearState, WriteLease
from asgpatch.clock import Clock
from asgpatch.cloud import Cloud, Discovery
from asgpatch.decision import Decision
from asgpatch.model import GroupView, ImageView, Job, LaunchHook, Observation, Phase, ScheduledAction, TemplateView
from asgpatch.run_state import RunState
from asgpatch.state import LEASE_TAG, lease_value

PLANNED_TICKS = 2  # the claim, then what the run does once it holds the lease


class DryRun:
    """A Cloud that reads through to `cloud` and carries nothing out: `taken` lists what it was asked."""

    def __init__(self, cloud: Cloud) -> None:
        self.cloud = cloud
        self.taken: list[Action] = []
        self.leases: dict[str, str | None] = {}  # group -> the lease tag as the kept actions leave it

    @property
    def region(self) -> str:
        """The shard it reads: the same as the cloud's, so the run's jobs are found in it."""
        return str(getattr(self.cloud, "region", "") or "")

    @property
    def account(self) -> str:
        return str(getattr(self.cloud, "account", "") or "")

    def act(self, action: Action) -> str | int | None:
        self.taken.append(action)
        if isinstance(action, WriteLease):
            self.leases.update({group: lease_value(action.owner, action.expires) for group in action.groups})
        elif isinstance(action, ClearState):
            self.leases[action.group] = None
        return None

    def observe(self, jobs: Sequence[Job], now: float) -> dict[str, Observation]:
        seen = self.cloud.observe(jobs, now)
        return {name: self._as_left(observation) for name, observation in seen.items()}

    def _as_left(self, observation: Observation) -> Observation:
        group = observation.group
        if group is None or group.name not in self.leases:
            return observation
        tags = {key: value for key, value in group.tags.items() if key != LEASE_TAG}
        lease = self.leases[group.name]
        if lease is not None:
            tags[LEASE_TAG] = lease
        return replace(observation, group=replace(group, tags=tags))

    def discover(self, tag_key: str, tag_value: str, names: Sequence[str] = ()) -> Discovery:
        return self.cloud.discover(tag_key, tag_value, names)

    def in_flight(self, names: Sequence[str] = ()) -> tuple[GroupView, ...]:
        return self.cloud.in_flight(names)

    def trusts(self, group: GroupView) -> bool:
        return self.cloud.trusts(group)

    def template_users(self, template_ids: Sequence[str]) -> tuple[GroupView, ...]:
        return self.cloud.template_users(template_ids)

    def template_views(self, groups: Sequence[GroupView]) -> dict[str, TemplateView]:
        return self.cloud.template_views(groups)

    def scheduled_actions(self, groups: Sequence[str]) -> dict[str, tuple[ScheduledAction, ...]]:
        return self.cloud.scheduled_actions(groups)

    def launch_hooks(self, groups: Sequence[str]) -> dict[str, tuple[LaunchHook, ...]]:
        return self.cloud.launch_hooks(groups)

    def images(self, image_ids: Sequence[str]) -> dict[str, ImageView]:
        return self.cloud.images(image_ids)

    def publish(self, topic_arn: str, subject: str, message: str, attributes: Mapping[str, str]) -> None:
        raise AssertionError("a plan sends no notification")


@dataclass(frozen=True)
class Planned:
    after: Mapping[str, Job]  # each job as the planned ticks leave it
    actions: Mapping[str, tuple[Action, ...]]  # each group's actions over the planned ticks, in order
    taken: tuple[Action, ...]  # every action of the first ticks, in the order the run takes them
    queued: frozenset[str]  # groups the first tick leaves for later (no room under --concurrency)


Ticker = Callable[..., "RunState"]  # runner.tick_state (runner imports this module)


def plan_ticks(state: RunState, cloud: Cloud, clock: Clock, tick: Ticker) -> Planned:
    """The run's first ticks, dry. Groups the first tick leaves for later get what the same ticks
    would do once their turn comes, the account unchanged (a second dry run with room for every group)."""
    dry, actions = DryRun(cloud), defaultdict[str, list[Action]](list)

    def record(group: str, decision: Decision) -> None:
        actions[group].extend(decision.actions)

    first = tick(state, dry, clock, on_decision=record)
    queued = frozenset(j.group for j in state.jobs if j.group not in actions and j.phase is Phase.PENDING)
    taken = tuple(dry.taken)
    after = {job.group: job for job in _ticks(first, dry, clock, tick, record, PLANNED_TICKS - 1).jobs}
    if queued:
        later, wide = defaultdict[str, list[Action]](list), replace(state, concurrency=len(state.jobs))

        def record_later(group: str, decision: Decision) -> None:
            later[group].extend(decision.actions)

        ticked = _ticks(wide, DryRun(cloud), clock, tick, record_later, PLANNED_TICKS)
        after.update({job.group: job for job in ticked.jobs if job.group in queued})
        actions.update({group: later[group] for group in queued})
    return Planned(after, {g: tuple(listed) for g, listed in actions.items()}, taken, queued)


def _ticks(state: RunState, cloud: Cloud, clock: Clock, tick: Ticker, record: Callable[[str, Decision], None],
           count: int) -> RunState:  # fmt: skip
    for _ in range(count):
        state = tick(state, cloud, clock, on_decision=record)
    return state
