"""What a failed step leads to, from the job's own counters: pure, no engine, no AWS."""

from __future__ import annotations

from dataclasses import replace

from asgpatch.actions import ClearState, SendPatchCommand, SetCapacity, WriteLease, WriteState
from asgpatch.failures import MAX_FAILURES, Failed, after_error, succeeded
from asgpatch.model import Capacity, Job, Outcome, Phase

NOW = 1_800_000_000.0
RUN = "20261209T040000Z-abcd"
THROTTLED = "SetDesiredCapacity: Throttling: Rate exceeded"
CLAIM = WriteLease(("web",), RUN, NOW + 300)


def test_a_claim_is_tried_again_until_it_has_failed_max_times_then_the_job_ends_untouched() -> None:
    job = Job("web", RUN)
    for tries in range(1, MAX_FAILURES):
        decision = after_error(job, Failed(job, THROTTLED, CLAIM), NOW)
        assert (decision.job.phase, decision.job.failures, decision.actions) == (Phase.PENDING, tries, ())
        assert decision.job.last_error == THROTTLED
        job = decision.job
    given_up = after_error(job, Failed(job, THROTTLED, CLAIM), NOW)
    assert (given_up.job.phase, given_up.job.outcome) == (Phase.DONE, Outcome.FAILED)
    assert given_up.job.reason == f"not started: {THROTTLED}"
    assert given_up.actions == (ClearState("web"),) and given_up.best_effort, "a claim that may have landed goes back"


def test_a_step_is_given_one_more_look_and_fails_the_group_the_second_time_in_a_row() -> None:
    patching = Job("web", RUN, Phase.PATCHING, NOW - 60, Capacity(0, 2, 0), instance_id="i-0123456789abcdef0")
    send = SendPatchCommand("i-0123456789abcdef0", "Install", "RebootIfNeeded", f"asgpatch {RUN} web", 3600)
    looked = after_error(patching, Failed(patching, "SendCommand: InvalidInstanceId: not running", send), NOW)
    assert looked.actions == () and looked.job.phase is Phase.PATCHING and looked.job.failures == 1
    failed = after_error(looked.job, Failed(looked.job, "SendCommand: InvalidInstanceId: not running", send), NOW)
    assert (failed.job.phase, failed.job.outcome) == (Phase.RESTORING, Outcome.FAILED)
    assert failed.job.reason == "patching: SendCommand: InvalidInstanceId: not running"
    assert failed.actions == (WriteState(failed.job),) and failed.best_effort
    assert failed.job.failures == 0, "the restore counts its own failures from none"
    assert succeeded(looked.job).failures == 0 and succeeded(looked.job).last_error == ""


def test_a_restore_that_keeps_failing_gives_up_its_lease_and_keeps_the_state_tag() -> None:
    job = Job("web", RUN, Phase.RESTORING, NOW, Capacity(0, 2, 0), outcome=Outcome.PATCHED, claimed=True)
    restore = SetCapacity("web", 0, 2, 0)
    for _ in range(MAX_FAILURES - 1):
        job = after_error(job, Failed(job, THROTTLED, restore), NOW).job
        assert job.phase is Phase.RESTORING
    done = after_error(job, Failed(job, THROTTLED, restore), NOW)
    assert (done.job.phase, done.job.outcome) == (Phase.DONE, Outcome.FAILED)
    assert done.job.reason == f"restore incomplete: {THROTTLED} (the state tag is kept)"
    assert done.actions == (ClearState("web", lease_only=True),)


def test_what_the_tag_recorded_before_the_failure_is_kept_not_the_decisions_goal() -> None:
    before = Job("web", RUN, Phase.WAITING_INSTANCE, NOW - 30, Capacity(0, 2, 0), instance_id="i-0123456789abcdef0")
    recorded = before.at(Phase.PATCHING, NOW)  # the WriteState landed, the SendCommand after it did not
    send = SendPatchCommand("i-0123456789abcdef0", "Install", "RebootIfNeeded", f"asgpatch {RUN} web", 3600)
    decision = after_error(before, Failed(recorded, THROTTLED, send, wrote_state=True), NOW)
    assert decision.job == replace(recorded, failures=1, last_error=THROTTLED)
