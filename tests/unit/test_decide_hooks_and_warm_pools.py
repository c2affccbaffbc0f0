"""Launch lifecycle hooks and warm pools in the pure phase machine: a hook's wait counts against the
launch timeout and is named when it blocks; a patched group's warm pool is refreshed before it is done."""

from __future__ import annotations

from asgpatch.decide import decide
from asgpatch.model import (
    Capacity,
    ClearState,
    LaunchHook,
    Outcome,
    Phase,
    TerminateInstance,
    WarmInstance,
    WriteResult,
    WriteState,
)
from tests.unit.test_decide import NOW, SETTINGS, ZERO, group, job, kinds, obs, ready

HOOK = LaunchHook("join-cluster", heartbeat_timeout=3600, default_result="ABANDON")


def test_an_instance_held_by_a_hook_is_waited_for_within_the_launch_timeout():
    waiting = job(Phase.WAITING_INSTANCE, instance_id="i-1", launch_requested=NOW - 300)
    held = ready(lifecycle="Pending:Wait", ssm_ping=None)
    decision = decide(waiting, obs(group(Capacity(0, 2, 1), (held,)), launch_hooks=(HOOK,)), SETTINGS)
    assert decision.job == waiting and decision.actions == ()


def test_a_hook_that_holds_the_instance_past_the_launch_timeout_is_named():
    waiting = job(Phase.WAITING_INSTANCE, instance_id="i-1", launch_requested=NOW - 601)
    held = ready(lifecycle="Pending:Wait", ssm_ping=None)
    decision = decide(waiting, obs(group(Capacity(0, 2, 1), (held,)), launch_hooks=(HOOK,)), SETTINGS)
    assert decision.job.phase is Phase.RESTORING and decision.job.outcome is Outcome.FAILED
    assert "join-cluster (heartbeat timeout 3600 s, then ABANDON)" in decision.job.reason
    assert "--launch-timeout" in decision.job.reason


def test_a_slow_instance_without_a_hook_is_not_blamed_on_one():
    waiting = job(Phase.WAITING_INSTANCE, instance_id="i-1", launch_requested=NOW - 601)
    pending = ready(lifecycle="Pending", ec2_state="pending", ssm_ping=None)
    decision = decide(waiting, obs(group(Capacity(0, 2, 1), (pending,)), launch_hooks=(HOOK,)), SETTINGS)
    assert decision.job.outcome is Outcome.FAILED and "hook" not in decision.job.reason


def restored(**changes: object):  # type: ignore[no-untyped-def]
    base = {"instance_id": "i-1", "outcome": Outcome.PATCHED, "image_id": "ami-new", "new_version": 5,
            "phase_started": NOW - 30}  # fmt: skip
    return job(Phase.RESTORING, **{**base, **changes})


def test_warm_instances_with_the_old_image_are_replaced_before_the_group_is_done():
    warm = (WarmInstance("i-w1", "Warmed:Stopped", "ami-3"), WarmInstance("i-w2", "Warmed:Stopped", "ami-new"),
            WarmInstance("i-w3", "Warmed:Pending", "ami-3"))  # fmt: skip
    decision = decide(restored(), obs(group(ZERO, warm_pool=True), warm=warm), SETTINGS)
    assert kinds(decision) == ["WriteState", "TerminateInstance", "TerminateInstance"]
    assert decision.actions[1:] == (
        TerminateInstance("i-w1", decrement=False),
        TerminateInstance("i-w3", decrement=False),
    )
    assert "warm pool" in decision.job.reason and decision.job.phase is Phase.RESTORING
    again = decide(decision.job, obs(group(ZERO, warm_pool=True), warm=warm), SETTINGS)
    assert not any(isinstance(a, WriteState) for a in again.actions)  # the note is recorded once


def test_a_group_whose_warm_pool_holds_only_the_patched_image_is_patched():
    warm = (WarmInstance("i-w2", "Warmed:Stopped", "ami-new"), WarmInstance("i-w1", "Warmed:Terminating", "ami-3"))
    decision = decide(restored(), obs(group(ZERO, warm_pool=True), warm=warm), SETTINGS)
    assert decision.job.phase is Phase.DONE and decision.job.outcome is Outcome.PATCHED
    assert isinstance(decision.actions[0], WriteResult) and isinstance(decision.actions[1], ClearState)


def test_a_warm_pool_that_is_not_refreshed_in_time_fails_the_group_naming_its_instances():
    warm = (WarmInstance("i-w1", "Warmed:Stopped", "ami-3"),)
    late = restored(phase_started=NOW - 601)
    decision = decide(late, obs(group(ZERO, warm_pool=True), warm=warm), SETTINGS)
    assert decision.job.phase is Phase.DONE and decision.job.outcome is Outcome.FAILED
    assert "i-w1" in decision.job.reason and "warm" in decision.job.reason
    assert isinstance(decision.actions[0], WriteResult) and "failed" in decision.actions[0].value


def test_a_failed_group_s_warm_pool_is_left_alone():
    warm = (WarmInstance("i-w1", "Warmed:Stopped", "ami-3"),)
    failed = restored(outcome=Outcome.FAILED, image_id=None, new_version=None)
    decision = decide(failed, obs(group(ZERO, warm_pool=True), warm=warm), SETTINGS)
    assert decision.job.phase is Phase.DONE
    assert not any(isinstance(a, TerminateInstance) for a in decision.actions)
