"""observe → decide → act → persist, for many groups at once.

One tick reads everything in flight in a few batched calls (the Cloud adapter), runs the pure
`decide` for each group, and carries out the actions in order, folding what creating actions return
into the job. The same tick serves the CLI loop (`run_until_done`) and, later, the Lambda handler.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from asgpatch.actions import Action, ClearState, WriteLease, WriteState
from asgpatch.clock import Clock
from asgpatch.cloud import Cloud, CloudError
from asgpatch.decide import absorb, absorb_ids, decide
from asgpatch.decision import Decision, failed_call
from asgpatch.model import Job, Observation, Outcome, Phase, Settings
from asgpatch.state import REASON_TAG, STATE_TAG, StateError, decode, names_run

MAX_RESTORE_ERRORS = 5
MAX_OBSERVE_ERRORS = 20  # consecutive ticks whose batched read failed after the adapter's retries


@dataclass
class Engine:
    cloud: Cloud
    settings: Settings
    clock: Clock
    concurrency: int = 10
    poll_seconds: float = 15.0
    on_tick: Callable[[Sequence[Job], float], None] | None = None
    on_action: Callable[[Action], None] | None = None  # after each action succeeds (crash tests hook here)
    restore_errors: dict[str, int] = field(default_factory=dict)
    looked_again: set[str] = field(default_factory=set)  # groups given one more look after a failed step
    last_heartbeat: float = float("-inf")
    observe_errors: int = 0

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
        # Caught up before the deadline is applied: a job stored as pending may have started in a tick
        # whose save was lost, and a started group is never dropped as "not started".
        caught = {job.group: self._caught_up(job, seen[job.group]) for job in active}
        jobs = self._past_deadline([caught.get(job.group, job) for job in jobs], now)
        updated = {job.group: job for job in jobs}
        for group, observation in seen.items():
            job = updated[group]
            if job.done:
                continue
            if job.bake_with:
                observation = replace(observation, bake=updated.get(job.bake_with))
            updated[job.group] = self._step(job, observation)
        result = [updated[job.group] for job in jobs]
        self._heartbeat(result, now)
        return result

    def _caught_up(self, job: Job, observation: Observation) -> Job:
        """A tick whose save was lost (killed, or beaten by a concurrent tick of the same run) leaves the
        stored job behind the group's state tag, which this run wrote after it, before acting: the tag is
        the truth for the group. A tag of this job's run, sealed by asgpatch for this group, that is ahead
        of the job — the job still pending, another phase begun later, or in the same phase a decrement or
        a relaunch the job does not know — replaces it (the ids creating calls returned after it was written are found
        again by their natural keys). A job ahead of its tag in what it only keeps in memory (when its
        instance came up) is never set back."""
        group = observation.group
        if group is None or job.done or job.salvaged_from is not None:
            return job
        value = group.tags.get(STATE_TAG)
        if value is None or not names_run(value, job.run_id):
            return job
        try:
            recorded = decode(group.name, value, group.tags.get(REASON_TAG, ""))
        except StateError:
            return job
        if job.phase is Phase.PENDING:
            ahead = True  # a lost tick started it: preparing again would take its scaled-up size for the original
        elif recorded.phase is not job.phase:
            # Begun in a later second (the tag keeps whole seconds). A later phase begun in the same second
            # is not adopted: the stored job's step is then taken again, and finds what was done by its
            # natural keys. A job that went back to launching by itself (no write) is not set forward.
            ahead = int(recorded.phase_started) > int(job.phase_started)
        else:
            ahead = (recorded.decremented and not job.decremented) or recorded.relaunches > job.relaunches
        if not ahead or not self.cloud.trusts(group):
            return job
        return replace(recorded, owner=job.owner, claimed=job.claimed, bake_with=job.bake_with)

    def _heartbeat(self, jobs: Sequence[Job], now: float) -> None:
        """Keep this run's leases alive: one batched tag write for every group it holds."""
        if self.last_heartbeat == float("-inf"):
            self.last_heartbeat = now  # the first tick's claims are fresh leases already
        if now - self.last_heartbeat < self.settings.lease_seconds / 3:
            return
        held = [j for j in jobs if j.claimed and not j.done]
        if not held:
            return
        try:
            self.cloud.act(WriteLease(tuple(j.group for j in held), held[0].driver, now + self.settings.lease_seconds))
            self.last_heartbeat = now
        except CloudError:
            pass  # the next tick tries again; a lease only expires after lease_seconds

    def _past_deadline(self, jobs: Sequence[Job], now: float) -> list[Job]:
        """After the deadline no group starts: pending ones end skipped (giving back any claim)."""
        deadline = self.settings.deadline
        if deadline is None or now < deadline:
            return list(jobs)
        result = []
        for job in jobs:
            if job.phase is Phase.PENDING and not job.bake_with:  # a bake in flight still shares its image
                if job.claimed:
                    self._quietly(ClearState(job.group, lease_only=True))
                reason = "not started: the deadline passed before its turn"
                job = replace(job, phase=Phase.DONE, outcome=Outcome.SKIPPED, reason=reason)
            result.append(job)
        return result

    def _quietly(self, action: Action) -> None:
        with contextlib.suppress(CloudError):
            self.cloud.act(action)

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
        result = self._act(decision, before=job)
        if result.error is None:
            self.restore_errors.pop(job.group, None)
            self.looked_again.discard(job.group)
            return result.job
        return self._after_error(job, result, observation.now)

    def _act(self, decision: Decision, before: Job | None = None) -> Acted:
        """Carry out the actions in order. On an error, the job is what the group's tag last recorded
        in this decision (or the job before it), not the decision's goal — plus what creating calls
        returned — so a failed step is never taken for a done one."""
        job = decision.job
        recorded = before if before is not None else decision.job
        wrote_state = False
        for index, action in enumerate(decision.actions):
            try:
                result = self.cloud.act(action)
            except CloudError as error:
                return Acted(recorded, str(error), index, action, wrote_state)
            job, recorded = absorb(job, action, result), absorb(recorded, action, result)
            if isinstance(action, WriteState):
                recorded, wrote_state = absorb_ids(action.job, recorded), True
            if self.on_action is not None:
                self.on_action(action)
        return Acted(job)

    def _after_error(self, before: Job, result: Acted, now: float) -> Job:
        if before.phase is Phase.PENDING and not result.wrote_state:
            return self._not_started(before, result)
        if before.phase is Phase.RESTORING:
            return self._restore_error(before, result.error or "", now)  # level-triggered: just try again
        if before.group not in self.looked_again:
            # The world may have changed since this tick's read (the patch instance terminated, the
            # group or its template deleted): the next read decides, as a run resuming after a crash
            # at this action would. A step that fails twice in a row fails the group.
            self.looked_again.add(before.group)
            return result.job
        recovery = failed_call(result.job, now, result.error or "")
        retried = self._act(recovery)
        return retried.job if retried.error is None else recovery.job

    def _not_started(self, before: Job, result: Acted) -> Job:
        """Nothing was recorded, so nothing was changed: a failed claim is tried again on the next
        ticks; a failed first state write (or a claim that keeps failing) ends the job untouched."""
        tries = self.restore_errors.get(before.group, 0) + 1
        self.restore_errors[before.group] = tries
        if isinstance(result.failed, WriteLease) and tries < MAX_RESTORE_ERRORS:
            return before
        self._quietly(ClearState(before.group))  # give back a claim that may have landed
        return replace(before, phase=Phase.DONE, outcome=Outcome.FAILED, reason=f"not started: {result.error}")

    def _restore_error(self, job: Job, error: str, now: float) -> Job:
        count = self.restore_errors.get(job.group, 0) + 1
        self.restore_errors[job.group] = count
        if count < MAX_RESTORE_ERRORS:
            return job
        reason = f"{job.reason + '; ' if job.reason else ''}restore incomplete: {error} (the state tag is kept)"
        # This run stops working on the group: its lease goes, so `recover` or the next run can take
        # it up at once instead of being told to leave it to a run that has given up.
        self._quietly(ClearState(job.group, lease_only=True))
        return replace(job, phase=Phase.DONE, outcome=Outcome.FAILED, reason=reason)


@dataclass(frozen=True)
class Acted:
    job: Job
    error: str | None = None
    failed_at: int = -1
    failed: Action | None = None
    wrote_state: bool = False
