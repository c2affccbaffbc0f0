"""observe → decide → act → persist, for many groups at once.

One tick reads everything in flight in a few batched calls (the Cloud adapter), runs the pure
`decide` for each group, and carries out the actions in order, folding what creating actions return
into the job. The same tick serves the CLI loop (`run_until_done`) and, later, the Lambda handler.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from asgpatch.actions import Action, WriteState
from asgpatch.catching_up import caught_up
from asgpatch.clock import Clock
from asgpatch.cloud import Cloud, CloudError
from asgpatch.decide import absorb, absorb_ids, decide, not_started_in_time, renewal
from asgpatch.decision import Decision
from asgpatch.failures import Failed, after_error, succeeded
from asgpatch.model import Job, Observation, Phase, Settings

MAX_OBSERVE_ERRORS = 20  # consecutive ticks whose batched read failed after the adapter's retries


@dataclass
class Engine:
    """Carries out what `decide` asks and folds in what the calls return; it decides nothing itself.
    Only two things are the run's rather than a group's: when it last renewed its leases, and how many
    ticks in a row AWS could not be read (both kept in the run's state between ticks)."""

    cloud: Cloud
    settings: Settings
    clock: Clock
    concurrency: int = 10
    poll_seconds: float = 15.0
    on_tick: Callable[[Sequence[Job], float], None] | None = None
    on_action: Callable[[Action], None] | None = None  # after each action succeeds (crash tests hook here)
    on_decision: Callable[[str, Decision], None] | None = None  # each group's decision, before it is carried out
    last_heartbeat: float | None = None
    observe_errors: int = 0
    # The tick's time budget: asked between groups (never inside one group's decision, so no action is
    # left half-recorded); once it says time is up the rest wait for the next tick, which starts with them.
    out_of_time: Callable[[], bool] | None = None
    start_with: str | None = None  # the group this tick steps first (the first one the last tick did not reach)
    not_reached: tuple[str, ...] = ()  # after a tick: the groups its budget left for the next

    def tick(self, jobs: Sequence[Job]) -> list[Job]:
        """One round for every job that may move now; returns all jobs, updated."""
        now = self.clock.now()
        active = self._admitted(jobs)
        try:
            observations = self.cloud.observe(active, now) if active else {}
        except CloudError:
            self.observe_errors += 1
            if self.observe_errors >= MAX_OBSERVE_ERRORS:
                raise  # AWS has been unreadable for many ticks: stop; the state tags let a later run resume
            return list(jobs)  # nothing was changed on a failed read: try again next tick
        self.observe_errors = 0
        seen = {job.group: observations.get(job.group) or Observation(now=now, group=None) for job in active}
        # Caught up before deciding: a job stored as pending may have started in a tick whose save was
        # lost, and a started group is never dropped as "not started".
        updated = {job.group: caught_up(job, seen[job.group], self.cloud.trusts) if job.group in seen else job
                   for job in jobs}  # fmt: skip
        self.not_reached = ()
        order = self._rotated(jobs)
        moved = False
        for index, job in enumerate(order):
            current = updated[job.group]
            if current.done:
                continue
            if moved and self.out_of_time is not None and self.out_of_time():
                self.not_reached = tuple(j.group for j in order[index:] if not updated[j.group].done)
                break  # at least one group stepped a tick: a run always moves
            observation = seen.get(job.group)
            if observation is None:  # not admitted this tick: only the deadline can end it
                late = not_started_in_time(current, self.settings, now)
                updated[job.group] = self._settle(job.group, late) if late is not None else current
                continue
            if current.bake_with:
                observation = replace(observation, bake=updated.get(current.bake_with))
            updated[job.group] = self._step(current, observation)
            moved = True
        result = [updated[job.group] for job in jobs]
        self._heartbeat(result, now)
        return result

    def _rotated(self, jobs: Sequence[Job]) -> list[Job]:
        """The jobs in their order, starting with `start_with`: a budget that keeps running out never
        starves the same groups."""
        names = [job.group for job in jobs]
        first = names.index(self.start_with) if self.start_with in names else 0
        return [*jobs[first:], *jobs[:first]]

    def _heartbeat(self, jobs: Sequence[Job], now: float) -> None:
        """Keep this run's leases alive: one batched tag write for every group it holds."""
        if self.last_heartbeat is None:
            self.last_heartbeat = now  # the first tick's claims are fresh leases already
        renew = renewal(jobs, self.last_heartbeat, now, self.settings)
        if renew is None:
            return
        try:
            self.cloud.act(renew)
            self.last_heartbeat = now
        except CloudError:
            pass  # the next tick tries again; a lease only expires after lease_seconds

    def run_until_done(self, jobs: Sequence[Job]) -> list[Job]:
        current = list(jobs)
        while True:
            current = self.tick(current)
            if self.on_tick is not None:
                self.on_tick(current, self.clock.now())
            if all(job.done for job in current):
                return current
            self.clock.sleep(self.poll_seconds)

    def _admitted(self, jobs: Sequence[Job]) -> list[Job]:
        """Jobs in flight, plus pending ones while fewer than `concurrency` groups are in flight.
        Groups sharing another's bake hold no instance: they are always admitted and never counted."""
        in_flight = [j for j in jobs if j.phase not in (Phase.PENDING, Phase.DONE)]
        sharing = [j for j in jobs if j.phase is Phase.PENDING and j.bake_with]
        room = max(0, self.concurrency - sum(1 for j in in_flight if not j.bake_with))
        pending = [j for j in jobs if j.phase is Phase.PENDING and not j.bake_with][:room]
        return in_flight + sharing + pending

    def _step(self, job: Job, observation: Observation) -> Job:
        decision = decide(job, observation, self.settings)
        if self.on_decision is not None:
            self.on_decision(job.group, decision)
        acted = self._act(decision, before=job)
        if isinstance(acted, Acted):
            return succeeded(acted.job)
        return self._settle(job.group, after_error(job, acted, observation.now))

    def _settle(self, group: str, decision: Decision) -> Job:
        """A decision that ends where it says whatever its calls return (no actions, or best effort)."""
        if self.on_decision is not None:
            self.on_decision(group, decision)
        acted = self._act(replace(decision, best_effort=True))
        return acted.job if isinstance(acted, Acted) else decision.job

    def _act(self, decision: Decision, before: Job | None = None) -> Acted | Failed:
        """Carry out the actions in order. On an error, the job is what the group's tag last recorded
        in this decision (or the job before it), not the decision's goal — plus what creating calls
        returned — so a failed step is never taken for a done one. Best-effort actions are all tried."""
        job = decision.job
        recorded = before if before is not None else decision.job
        wrote_state = False
        for action in decision.actions:
            try:
                result = self.cloud.act(action)
            except CloudError as error:
                if decision.best_effort:
                    continue
                return Failed(recorded, str(error), action, wrote_state)
            job, recorded = absorb(job, action, result), absorb(recorded, action, result)
            if isinstance(action, WriteState):
                recorded, wrote_state = absorb_ids(action.job, recorded), True
            if self.on_action is not None:
                self.on_action(action)
        return Acted(decision.job if decision.best_effort else job)


@dataclass(frozen=True)
class Acted:
    job: Job
