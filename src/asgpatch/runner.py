"""`plan` and `run` from start to report, given a Cloud: discovery, intake, the engine, the report."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from asgpatch.actions import Action
from asgpatch.clock import Clock
from asgpatch.cloud import Cloud, Discovery
from asgpatch.config import RunConfig
from asgpatch.decision import Decision
from asgpatch.dry_run import plan_ticks
from asgpatch.model import Capacity, GroupView, Job, Outcome, Phase
from asgpatch.plan_lines import notes_for, plan_line
from asgpatch.planning import Estate, Intake, take_in, untrusted_reason
from asgpatch.report import IN_PROGRESS, GroupResult, build_report, result_from_job
from asgpatch.run_state import RunState, decode, encode
from asgpatch.run_store import MemoryStore
from asgpatch.salvage import Refused, read_state
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
    """What `run` would do: its own first ticks, carried out by an executor that only displays
    (dry_run.py). Reads only."""
    started = start(cloud, config, run_id, clock)
    planned = plan_ticks(new_state(started, config), cloud, clock, tick_state)
    views = {g.name: g for g in [*started.discovery.groups, *cloud.in_flight(config.asg_names)]}
    hosts = [j.group for j in started.intake.jobs if j.phase is Phase.PENDING and not j.bake_with]
    schedules = cloud.scheduled_actions(hosts) if hosts else {}
    hooks = cloud.launch_hooks(hosts) if hosts else {}
    lines = []
    for job in started.intake.jobs:
        group = views.get(job.group)
        shared = sorted(j.group for j in started.intake.jobs if j.bake_with == job.group)
        notes = "" if group is None else notes_for(
            group, shared, schedules.get(job.group, ()), hooks.get(job.group, ()), config.settings, clock.now()
        )  # fmt: skip
        lines.append(plan_line(job, planned, group, started.estate.templates, notes, config.concurrency))
    return build_report(run_id, started.started_at, clock.now(), lines + _skipped(started, refused="skipped"))


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
    state: RunState,
    cloud: Cloud,
    clock: Clock,
    on_action: Callable[[Action], None] | None = None,
    on_decision: Callable[[str, Decision], None] | None = None,
    out_of_time: Callable[[], bool] | None = None,
) -> RunState:
    """One tick of a run from its stored state to the state to store: an engine built afresh from it.
    `out_of_time` is the tick's budget (asked between groups; the groups it leaves go first next tick)."""
    if state.done:
        return state
    engine = Engine(
        cloud, state.settings, clock, state.concurrency, state.poll_seconds, on_action=on_action,
        on_decision=on_decision, last_heartbeat=state.last_heartbeat, observe_errors=state.observe_errors,
        out_of_time=out_of_time, start_with=state.not_reached[0] if state.not_reached else None,
    )  # fmt: skip
    jobs = engine.tick(state.jobs)
    ticked = replace(
        state,
        jobs=tuple(jobs),
        last_heartbeat=engine.last_heartbeat,
        observe_errors=engine.observe_errors,
        not_reached=engine.not_reached,
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
