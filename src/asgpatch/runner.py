"""`plan`, `run` and `recover` from start to report, given the shards a run covers (a bare Cloud is one):
intake in every shard, the engine, the report. The run's state from tick to tick is ticking.py's."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from asgpatch.abandoning import to_restore
from asgpatch.actions import Action
from asgpatch.clock import Clock
from asgpatch.cloud import Cloud
from asgpatch.config import RunConfig
from asgpatch.dry_run import plan_ticks
from asgpatch.model import Job, Outcome, Phase
from asgpatch.plan_lines import notes_for, plan_line
from asgpatch.planning import untrusted_reason
from asgpatch.report import GroupResult, build_report, result_from_job
from asgpatch.run_state import decode, encode
from asgpatch.run_store import MemoryStore
from asgpatch.salvage import Refused, read_state
from asgpatch.shards import Shard, as_shards
from asgpatch.starting import Started, UsageError, start, start_all
from asgpatch.starting import not_taken as _not_taken
from asgpatch.tick import Engine
from asgpatch.ticking import final_capacities, new_state, report_of, tick_state

Report = dict[str, Any]
__all__ = ["Started", "UsageError", "exit_code", "new_state", "plan", "recover", "report_of", "run", "start",
           "start_all", "tick_state"]  # fmt: skip


def plan(cloud: Cloud | Sequence[Shard], config: RunConfig, run_id: str, clock: Clock) -> Report:
    """What `run` would do: its own first ticks in each shard, carried out by an executor that only
    displays (dry_run.py). Reads only."""
    lines: list[GroupResult] = []
    every = start_all(as_shards(cloud), config, run_id, clock)
    for shard, started in zip(_shards_of(cloud, every), every, strict=True):
        lines += _plan_lines(shard, started, config, clock)
    skipped = [line for started in every for line in _not_taken(started, refused="skipped")]
    started_at = min((s.started_at for s in every), default=clock.now())
    return build_report(run_id, started_at, clock.now(), lines + skipped)


def _shards_of(cloud: Cloud | Sequence[Shard], every: Sequence[Started]) -> list[Shard]:
    shards = {shard.key: shard for shard in as_shards(cloud)}
    return [shards[(started.account, started.region)] for started in every]


def _plan_lines(shard: Shard, started: Started, config: RunConfig, clock: Clock) -> list[GroupResult]:
    cloud = shard.cloud
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
        line = plan_line(job, planned, group, started.estate.templates, notes, config.concurrency)
        lines.append(replace(line, account=shard.account or None, region=shard.region or None))
    return lines


def run(
    cloud: Cloud | Sequence[Shard],
    config: RunConfig,
    run_id: str,
    clock: Clock,
    on_tick: Callable[[Sequence[Job], float], None] | None = None,
    on_action: Callable[[Action], None] | None = None,
) -> Report:
    """`asgpatch tick` in one process: every tick starts from the stored state (a JSON round trip in
    memory), so the loop proves what a run whose ticks are separate invocations does."""
    store = MemoryStore()
    store.save(encode(new_state(start_all(as_shards(cloud), config, run_id, clock), config)), expected=None)
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


def recover(cloud: Cloud | Sequence[Shard], config: RunConfig, run_id: str, clock: Clock) -> Report:
    """Put groups a stopped run left in flight back to their recorded state, without patching. A group
    the operator names with --asg is restored from its state tag whatever its seal says (the operator
    vouches for it); otherwise only tags asgpatch sealed on that group are obeyed."""
    started_at = clock.now()
    lines: list[GroupResult] = []
    for shard in as_shards(cloud):
        lines += _recover_shard(shard, config, run_id, clock, started_at)
    return build_report(run_id, started_at, clock.now(), lines)


def _recover_shard(shard: Shard, config: RunConfig, run_id: str, clock: Clock, now: float) -> list[GroupResult]:
    cloud, account, region = shard.cloud, shard.account or None, shard.region or None
    jobs, refused = [], []
    for group in cloud.in_flight(config.asg_names):
        if group.name not in config.asg_names and not cloud.trusts(group):
            refused.append(GroupResult(group.name, "failed", untrusted_reason(group), capacity=group.capacity,
                                       account=account, region=region))  # fmt: skip
            continue
        found = read_state(group, run_id, now)
        if isinstance(found, Refused):
            refused.append(GroupResult(group.name, "failed", found.reason, capacity=group.capacity, account=account,
                                       region=region))  # fmt: skip
            continue
        jobs.append(replace(to_restore(found, run_id, now), region=shard.region, account=shard.account))
    engine = Engine(cloud, config.settings, clock, config.concurrency, config.poll_seconds)
    finished = engine.run_until_done(jobs)
    final = final_capacities(cloud, finished, clock)
    return [result_from_job(job, final.get(job.group)) for job in finished] + refused


def exit_code(report: Report) -> int:
    """0 when no group failed, 1 when any did."""
    return 1 if any(g["status"] == Outcome.FAILED.value for g in report["groups"]) else 0
