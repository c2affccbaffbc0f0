"""A run's state from tick to tick, over all its shards: the state a run starts with, one tick of it,
and its report as it stands. Each shard's jobs are ticked by an engine of their own (tick.py), built
afresh from the stored state, against that shard's Cloud."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from asgpatch.actions import Action
from asgpatch.clock import Clock
from asgpatch.cloud import Cloud
from asgpatch.config import RunConfig
from asgpatch.decision import Decision
from asgpatch.model import Capacity, Job
from asgpatch.report import IN_PROGRESS, GroupResult, build_report, result_from_job
from asgpatch.run_state import RunState
from asgpatch.shards import Shard, as_shards, shard_of
from asgpatch.starting import Started, not_taken
from asgpatch.tick import Engine

Report = dict[str, Any]
Place = tuple[str, str, str]  # (account, region, group): a group not reached, as stored


def new_state(started: Started | Sequence[Started], config: RunConfig) -> RunState:
    """A run about to make its first tick: what intake took on in each shard, and what it did not."""
    every = (started,) if isinstance(started, Started) else tuple(started)
    return RunState(
        run_id=every[0].run_id,
        started_at=min(s.started_at for s in every),
        settings=config.settings,
        concurrency=config.concurrency,
        poll_seconds=config.poll_seconds,
        jobs=tuple(job for s in every for job in s.intake.jobs),
        not_taken=tuple(line for s in every for line in not_taken(s)),
        shards=tuple((s.account, s.region) for s in every),
    )


def tick_state(
    state: RunState,
    cloud: Cloud | Sequence[Shard],
    clock: Clock,
    on_action: Callable[[Action], None] | None = None,
    on_decision: Callable[[str, Decision], None] | None = None,
    out_of_time: Callable[[], bool] | None = None,
) -> RunState:
    """One tick of a run from its stored state to the state to store. `out_of_time` is the tick's budget:
    asked between groups (and before each shard after the first); what it leaves goes first next tick."""
    if state.done:
        return state
    shards = as_shards(cloud)
    placed: dict[tuple[str, str], tuple[Shard, list[int]]] = {}
    for index, job in enumerate(state.jobs):
        shard = shard_of(job, shards)
        placed.setdefault(shard.key, (shard, []))[1].append(index)
    order = _first_not_reached(list(placed), state.not_reached)
    jobs, heartbeats, observe_errors, left, unvisited = list(state.jobs), [], 0, [], []
    for number, key in enumerate(order):
        shard, indices = placed[key]
        if number > 0 and out_of_time is not None and out_of_time():
            unvisited += [(*key, jobs[i].group) for i in indices if not jobs[i].done]
            heartbeats.append(state.last_heartbeat)
            observe_errors = max(observe_errors, state.observe_errors)
            continue
        first = next((name for (*where, name) in state.not_reached if tuple(where) == key), None)
        engine = Engine(
            shard.cloud, state.settings, clock, state.concurrency, state.poll_seconds, on_action=on_action,
            on_decision=on_decision, last_heartbeat=state.last_heartbeat, observe_errors=state.observe_errors,
            out_of_time=out_of_time, start_with=first,
        )  # fmt: skip
        for index, job in zip(indices, engine.tick([jobs[i] for i in indices]), strict=True):
            jobs[index] = job
        heartbeats.append(engine.last_heartbeat)
        observe_errors = max(observe_errors, engine.observe_errors)
        left += [(*key, name) for name in engine.not_reached]
    known = [beat for beat in heartbeats if beat is not None]
    ticked = replace(state, jobs=tuple(jobs), last_heartbeat=min(known) if known else None,
                     observe_errors=observe_errors, not_reached=(*unvisited, *left), ticks=state.ticks + 1)  # fmt: skip
    if not all(job.done for job in jobs):
        return ticked
    results = []
    for shard, indices in placed.values():
        final = final_capacities(shard.cloud, [jobs[i] for i in indices], clock)
        results += [(i, result_from_job(jobs[i], final.get(jobs[i].group))) for i in indices]
    ordered = tuple(line for _, line in sorted(results, key=lambda pair: pair[0]))
    return replace(ticked, finished_at=clock.now(), results=ordered)


def _first_not_reached(keys: list[tuple[str, str]], not_reached: Sequence[Place]) -> list[tuple[str, str]]:
    """The shards in order, starting with the one whose groups the last tick's budget did not reach (a
    shard it never got to comes before one it left part of: no shard waits for ever)."""
    if not not_reached:
        return keys
    first = (not_reached[0][0], not_reached[0][1])
    return [first, *(key for key in keys if key != first)] if first in keys else keys


def final_capacities(cloud: Cloud, jobs: Sequence[Job], clock: Clock) -> dict[str, Capacity]:
    """One batched read after the run, so the report shows each group as it really is now."""
    if not jobs:
        return {}
    observations = cloud.observe(jobs, clock.now())
    return {name: o.group.capacity for name, o in observations.items() if o.group is not None}


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
