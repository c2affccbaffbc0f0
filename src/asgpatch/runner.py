"""`plan` and `run` from start to report, given a Cloud: discovery, intake, the engine, the report."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from asgpatch.actions import Action
from asgpatch.clock import Clock
from asgpatch.cloud import Cloud, Discovery
from asgpatch.config import RunConfig
from asgpatch.decision import minutes
from asgpatch.model import Capacity, GroupView, Job, LaunchHook, Outcome, Phase, ScheduledAction
from asgpatch.planning import Estate, Intake, bake_of, take_in, untrusted_reason, would
from asgpatch.report import IN_PROGRESS, GroupResult, build_report, result_from_job
from asgpatch.run_state import RunState, decode, encode
from asgpatch.run_store import MemoryStore
from asgpatch.salvage import Refused, read_state
from asgpatch.schedule import due_within
from asgpatch.tick import Engine

Report = dict[str, Any]


class UsageError(Exception):
    """Bad input found while reading the account (e.g. an --asg name that does not exist)."""


@dataclass(frozen=True)
class Started:
    run_id: str
    started_at: float
    discovery: Discovery
    intake: Intake
    estate: Estate = field(default_factory=Estate)


def start(cloud: Cloud, config: RunConfig, run_id: str, clock: Clock) -> Started:
    started_at = clock.now()
    settings = config.settings
    discovery = cloud.discover(settings.tag_key, settings.tag_value, config.asg_names)
    if discovery.missing:
        names = ", ".join(discovery.missing)
        raise UsageError(f"no Auto Scaling group named {names} in this account and region")
    in_flight = cloud.in_flight(config.asg_names)
    estate = read_estate(cloud, [*discovery.groups, *in_flight])
    intake = take_in(discovery, run_id, settings, in_flight, started_at, estate, trusts=cloud.trusts)
    return Started(run_id, started_at, discovery, intake, estate)


def read_estate(cloud: Cloud, groups: Sequence[GroupView]) -> Estate:
    """The templates the run's groups name, and every group in the region naming them (a few batched
    reads; nothing when there is nothing to patch)."""
    if not groups:
        return Estate()
    templates = cloud.template_views(groups)
    return Estate(templates, cloud.template_users(sorted(templates)) if templates else ())


def plan(cloud: Cloud, config: RunConfig, run_id: str, clock: Clock) -> Report:
    """What `run` would do. Reads only."""
    started = start(cloud, config, run_id, clock)
    views = {g.name: g for g in started.discovery.groups}
    pending = [j for j in started.intake.jobs if j.phase.value == "pending"]
    observations = cloud.observe(pending, clock.now()) if pending else {}
    hosts = [j.group for j in pending if not j.bake_with]
    schedules = cloud.scheduled_actions(hosts) if hosts else {}
    hooks = cloud.launch_hooks(hosts) if hosts else {}
    results = []
    for job in started.intake.jobs:
        group = views.get(job.group)
        status, reason, version = would(job, group, observations.get(job.group), clock.now())
        if job.bake_with and status == "would-patch":
            reason = bake_of(job, views, started.estate.templates)
        sharing = sorted(j.group for j in started.intake.jobs if j.bake_with == job.group)
        if sharing and status == "would-patch":
            reason += f"; the bake is shared with {', '.join(sharing)}"
        if status == "would-patch" and not job.bake_with and group is not None:
            reason += _due_in_window(schedules.get(job.group, ()), group, config, clock.now())
            reason += _launch_hooks(hooks.get(job.group, ()), config)
        if status == "would-patch" and group is not None and group.warm_pool:
            reason += "; its warm pool's instances from the old image are replaced after the restore"
        template = group.template.main.template_id if group and group.template else None
        capacity = group.capacity if group else None
        results.append(GroupResult(job.group, status, reason, template_id=template, previous_version=version,
                                   capacity=capacity))  # fmt: skip
    return build_report(run_id, started.started_at, clock.now(), results + _skipped(started, refused="skipped"))


def _due_in_window(actions: Sequence[ScheduledAction], group: GroupView, config: RunConfig, now: float) -> str:
    """The group's scheduled actions that fall inside the window (up to the deadline, else the longest a
    cycle may take), which Auto Scaling will skip while asgpatch holds them and the restore applies."""
    if "ScheduledActions" in group.suspended or not actions:
        return ""
    settings = config.settings
    longest = settings.launch_timeout + settings.ssm_timeout + settings.patch_timeout + settings.image_timeout
    due = due_within(actions, now, settings.deadline or now + longest)
    if not due:
        return ""
    return f"; scheduled actions due in the window, applied at restore: {', '.join(str(d) for d in due)}"


def _launch_hooks(hooks: Sequence[LaunchHook], config: RunConfig) -> str:
    """The launch hooks the patch instance waits for, and a warning when one may outlast the launch timeout."""
    if not hooks:
        return ""
    timeout = config.settings.launch_timeout
    slow = [h.name for h in hooks if h.heartbeat_timeout >= timeout]
    note = f"; the patch instance waits for launch lifecycle hook {', '.join(str(h) for h in hooks)}"
    if slow:
        note += f" — {', '.join(slow)} may hold it past --launch-timeout ({minutes(timeout)}) if its automation is slow"
    return note


def run(
    cloud: Cloud,
    config: RunConfig,
    run_id: str,
    clock: Clock,
    on_tick: Callable[[Sequence[Job], float], None] | None = None,
    on_action: Callable[[Action], None] | None = None,
) -> Report:
    """`asgpatch tick` in one process: every tick starts from the stored state (a JSON round trip in
    memory), so the loop proves what a run whose ticks are separate invocations does."""
    store = MemoryStore()
    store.save(encode(new_state(start(cloud, config, run_id, clock), config)), expected=None)
    while True:
        loaded = store.load()
        assert loaded is not None
        state = tick_state(decode(loaded.document), cloud, clock, on_action)
        store.save(encode(state), expected=loaded.version)
        if on_tick is not None:
            on_tick(state.jobs, clock.now())
        if state.done:
            return report_of(state)
        clock.sleep(state.poll_seconds)


def new_state(started: Started, config: RunConfig) -> RunState:
    """A run about to make its first tick: what intake took on, and what it did not."""
    return RunState(
        run_id=started.run_id,
        started_at=started.started_at,
        settings=config.settings,
        concurrency=config.concurrency,
        poll_seconds=config.poll_seconds,
        jobs=tuple(started.intake.jobs),
        not_taken=tuple(_skipped(started)),
    )


def tick_state(
    state: RunState, cloud: Cloud, clock: Clock, on_action: Callable[[Action], None] | None = None
) -> RunState:
    """One tick of a run from its stored state to the state to store: an engine built afresh from it."""
    if state.done:
        return state
    engine = Engine(
        cloud, state.settings, clock, state.concurrency, state.poll_seconds, on_action=on_action,
        last_heartbeat=state.last_heartbeat, observe_errors=state.observe_errors,
    )  # fmt: skip
    jobs = engine.tick(state.jobs)
    ticked = replace(
        state,
        jobs=tuple(jobs),
        last_heartbeat=engine.last_heartbeat,
        observe_errors=engine.observe_errors,
        ticks=state.ticks + 1,
    )
    if not all(job.done for job in jobs):
        return ticked
    final = _final_capacities(cloud, jobs, clock)
    results = tuple(result_from_job(job, final.get(job.group)) for job in jobs)
    return replace(ticked, finished_at=clock.now(), results=results)


def _as_it_stands(job: Job) -> GroupResult:
    if job.done:
        return result_from_job(job, None)
    line = result_from_job(replace(job, outcome=None, reason=""), None)
    return replace(line, status=IN_PROGRESS, reason="; ".join(p for p in (job.phase.value, job.reason) if p))


def report_of(state: RunState) -> Report:
    """The run report: every group's line once the run is over; before that, each job as it stands."""
    lines = state.results if state.done else tuple(_as_it_stands(job) for job in state.jobs)
    return build_report(state.run_id, state.started_at, state.finished_at or state.started_at,
                        [*lines, *state.not_taken])  # fmt: skip


def recover(cloud: Cloud, config: RunConfig, run_id: str, clock: Clock) -> Report:
    """Put groups a stopped run left in flight back to their recorded state, without patching. A group
    the operator names with --asg is restored from its state tag whatever its seal says (the operator
    vouches for it); otherwise only tags asgpatch sealed on that group are obeyed."""
    started_at = clock.now()
    groups = cloud.in_flight(config.asg_names)
    jobs, refused = [], []
    for group in groups:
        if group.name not in config.asg_names and not cloud.trusts(group):
            refused.append(GroupResult(group.name, "failed", untrusted_reason(group), capacity=group.capacity))
            continue
        found = read_state(group, run_id, started_at)
        if isinstance(found, Refused):
            refused.append(GroupResult(group.name, "failed", found.reason, capacity=group.capacity))
            continue
        jobs.append(_to_restore(found, run_id, started_at))
    engine = Engine(cloud, config.settings, clock, config.concurrency, config.poll_seconds)
    finished = engine.run_until_done(jobs)
    final = _final_capacities(cloud, finished, clock)
    results = [result_from_job(job, final.get(job.group)) for job in finished]
    return build_report(run_id, started_at, clock.now(), results + refused)


def _to_restore(job: Job, run_id: str, now: float) -> Job:
    if job.phase is Phase.RESTORING:
        return replace(job, owner=run_id)
    patched = job.new_version is not None
    outcome = Outcome.PATCHED if patched else Outcome.SKIPPED
    reason = "" if patched else f"recovered: run {job.run_id} stopped in phase {job.phase.value}; not patched"
    return replace(job.at(Phase.RESTORING, now, outcome=outcome, reason=reason), owner=run_id)


def _final_capacities(cloud: Cloud, jobs: Sequence[Job], clock: Clock) -> dict[str, Capacity]:
    """One batched read after the run, so the report shows each group as it really is now."""
    if not jobs:
        return {}
    observations = cloud.observe(jobs, clock.now())
    return {name: o.group.capacity for name, o in observations.items() if o.group is not None}


def _skipped(started: Started, refused: str = "failed") -> list[GroupResult]:
    """Groups the run did not take on: skipped, and those in flight that are unsafe to touch (a run
    reports them failed, since they need an operator; a plan, which changes nothing, skipped)."""
    listed = [("skipped", group, reason) for group, reason in started.intake.skipped]
    listed += [(refused, group, reason) for group, reason in started.intake.refused]
    return [GroupResult(group.name, status, reason, capacity=group.capacity) for status, group, reason in listed]


def exit_code(report: Report) -> int:
    """0 when no group failed, 1 when any did."""
    return 1 if any(g["status"] == Outcome.FAILED.value for g in report["groups"]) else 0
