"""Launch lifecycle hooks and warm pools in the pure phase machine: a hook's wait counts against the
launch timeout and is named when it blocks; a patched group's warm pool is refreshed before it is done."""

from __future__ import annotations

from asgpatch.actions import ClearState, TerminateInstance, WriteResult, WriteState
from asgpatch.decide import decide
from asgpatch.model import Capacity, LaunchHook, Outcome, Phase, WarmInstance
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


def test_the_refresh_clock_starts_when_the_pool_is_first_seen_stale_and_then_fails_the_group():
    warm = (WarmInstance("i-w1", "Warmed:Stopped", "ami-3"),)
    resumed_late = restored(phase_started=NOW - 3600)  # a run resumed long after the restore began
    first = decide(resumed_late, obs(group(ZERO, warm_pool=True), warm=warm), SETTINGS)
    assert first.job.phase is Phase.RESTORING and first.job.phase_started == NOW
    assert TerminateInstance("i-w1", decrement=False) in first.actions
    later = obs(group(ZERO, warm_pool=True), now=NOW + 601, warm=warm)
    decision = decide(first.job, later, SETTINGS)
    assert decision.job.phase is Phase.DONE and decision.job.outcome is Outcome.FAILED
    assert "i-w1" in decision.job.reason and "warm pool" in decision.job.reason
    assert kinds(decision) == ["TerminateInstance", "WriteResult", "ClearState"]  # asked once more, then failed
    assert "failed" in decision.actions[1].value


def test_the_pool_is_refreshed_before_the_restore_sets_capacity():
    """A scale-out the restore causes (a schedule due, a replacement) takes warm instances first."""
    warm = (WarmInstance("i-w1", "Warmed:Stopped", "ami-3"),)
    held = group(Capacity(1, 2, 1), (ready(),), warm_pool=True)
    decision = decide(restored(), obs(held, warm=warm), SETTINGS)
    names = kinds(decision)
    assert names.index("TerminateInstance") < names.index("SetCapacity")


def test_a_warm_instance_ec2_did_not_describe_is_waited_for():
    warm = (WarmInstance("i-w1", "Warmed:Stopped", None),)
    decision = decide(restored(), obs(group(ZERO, warm_pool=True), warm=warm), SETTINGS)
    assert decision.job.phase is Phase.RESTORING and decision.actions == ()


def test_a_stale_pool_is_replaced_before_the_scale_up_so_the_patch_instance_has_the_group_s_image():
    warm = (WarmInstance("i-w1", "Warmed:Stopped", "ami-1"), WarmInstance("i-w2", "Warmed:Stopped", "ami-3"))
    decision = decide(job(), obs(group(ZERO, warm_pool=True), warm=warm), SETTINGS)  # the group launches ami-3
    names = kinds(decision)
    assert decision.actions[names.index("TerminateInstance")] == TerminateInstance("i-w1", decrement=False)
    assert names.count("TerminateInstance") == 1 and names.index("TerminateInstance") < names.index("SetCapacity")


def test_a_patch_instance_from_another_image_is_replaced_not_patched():
    launching = job(Phase.LAUNCHING, preexisting=frozenset())
    old = ready("i-old", lifecycle="Pending", protected=False, image_id="ami-1")
    decision = decide(launching, obs(group(Capacity(1, 2, 1), (old,), warm_pool=True)), SETTINGS)
    assert decision.job.phase is Phase.LAUNCHING and decision.actions == (TerminateInstance("i-old", decrement=False),)
    right = ready("i-new", lifecycle="Pending", protected=False, image_id="ami-3")
    picked = decide(launching, obs(group(Capacity(1, 2, 1), (right,), warm_pool=True)), SETTINGS)
    assert picked.job.phase is Phase.WAITING_INSTANCE and picked.job.instance_id == "i-new"


def test_a_failed_group_s_warm_pool_is_left_alone():
    warm = (WarmInstance("i-w1", "Warmed:Stopped", "ami-3"),)
    failed = restored(outcome=Outcome.FAILED, image_id=None, new_version=None)
    decision = decide(failed, obs(group(ZERO, warm_pool=True), warm=warm), SETTINGS)
    assert decision.job.phase is Phase.DONE
    assert not any(isinstance(a, TerminateInstance) for a in decision.actions)
