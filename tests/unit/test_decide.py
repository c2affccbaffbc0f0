"""The pure phase machine, phase by phase: hand-made observations in, job and actions out."""

from __future__ import annotations

from dataclasses import replace

import pytest

from asgpatch.actions import (
    CancelCommand,
    ClearState,
    CreateImage,
    CreateTemplateVersion,
    DeregisterImage,
    ProtectInstance,
    RegisterInstances,
    ResumeProcesses,
    SendPatchCommand,
    SetCapacity,
    SetDefaultVersion,
    SuspendProcesses,
    TerminateInstance,
    UseTemplateVersion,
    WriteLease,
    WriteResult,
    WriteState,
)
from asgpatch.decide import decide
from asgpatch.model import (
    Capacity,
    CommandView,
    ComplianceView,
    GroupView,
    ImageView,
    InstanceView,
    Job,
    Observation,
    Outcome,
    PatchCounts,
    Phase,
    Settings,
    TemplateRef,
    TemplateSpec,
    TemplateView,
)

NOW = 1_800_000_000.0
SETTINGS = Settings(launch_timeout=600, ssm_timeout=300, patch_timeout=3600, image_timeout=1800)
TEMPLATE = TemplateView("lt-1", "web", default_version=3, latest_version=4, images={3: "ami-3", 4: "ami-4"})
ZERO = Capacity(0, 2, 0)


def group(capacity: Capacity = ZERO, instances: tuple[InstanceView, ...] = (), **changes: object) -> GroupView:
    tags = {"ep:asg:patch": "true", "asgpatch:lease": f"r1 {int(NOW) + 200}", "asgpatch:state": "1|r1|..."}
    view = GroupView("web", capacity, tags, instances=instances, template=TemplateRef(TemplateSpec("lt-1")))
    return replace(view, **changes)  # type: ignore[arg-type]


CLEAN = ComplianceView(PatchCounts(installed=14, missing=0, failed=0), "Install", ended=NOW - 5)


def obs(view: GroupView | None, now: float = NOW, **changes: object) -> Observation:
    """What a tick reads; Patch Manager's compliance is there as AWS reports it after an Install."""
    base = Observation(now, view, templates={"lt-1": TEMPLATE}, compliance=CLEAN)
    return replace(base, **changes)  # type: ignore[arg-type]


def job(phase: Phase = Phase.PENDING, **changes: object) -> Job:
    base = Job("web", "r1", phase, phase_started=NOW - 10, original=ZERO, launch_requested=NOW - 10,
               template_id="lt-1", source_version=3, source_image="ami-3", claimed=True)  # fmt: skip
    if phase is Phase.PENDING:
        base = Job("web", "r1", claimed=True)
    return replace(base, **changes)  # type: ignore[arg-type]


def ready(instance_id: str = "i-1", **changes: object) -> InstanceView:
    view = InstanceView(instance_id, "InService", protected=True, ec2_state="running", launch_time=NOW - 60,
                        ssm_ping="Online")  # fmt: skip
    return replace(view, **changes)  # type: ignore[arg-type]


def kinds(decision) -> list[str]:  # type: ignore[no-untyped-def]
    return [type(a).__name__ for a in decision.actions]


def test_pending_records_the_group_then_suspends_and_scales_up():
    decision = decide(job(), obs(group(suspended=frozenset({"ScheduledActions"}))), SETTINGS)
    assert kinds(decision) == ["WriteState", "SuspendProcesses", "WriteState", "SetCapacity"]
    recorded = decision.actions[0]
    assert isinstance(recorded, WriteState) and recorded.job.original == ZERO
    suspend = decision.actions[1]
    assert isinstance(suspend, SuspendProcesses) and "ScheduledActions" not in suspend.processes
    assert decision.job.was_suspended == {"ScheduledActions"}
    assert decision.actions[3] == SetCapacity("web", min=1, max=2, desired=1)
    assert (decision.job.phase, decision.job.source_version, decision.job.source_image) == (
        Phase.LAUNCHING, 3, "ami-3"
    )  # fmt: skip


def test_pending_raises_max_from_zero():
    decision = decide(job(), obs(group(Capacity(0, 0, 0))), SETTINGS)
    assert decision.actions[-1] == SetCapacity("web", min=1, max=1, desired=1)


def test_a_missing_template_fails_before_touching_anything():
    decision = decide(job(), obs(group(), templates={}), SETTINGS)
    assert decision.job.outcome is Outcome.FAILED and decision.actions == (ClearState("web", lease_only=True),)


def test_a_restarted_preparation_keeps_what_the_tag_recorded():
    resumed = job(Phase.PREPARING, we_suspended=frozenset({"AZRebalance", "ScheduledActions"}))
    view = group(suspended=frozenset({"AZRebalance"}))  # ours, half done
    decision = decide(resumed, obs(view), SETTINGS)
    assert decision.actions[0] == SuspendProcesses("web", frozenset({"ScheduledActions"}))
    assert decision.job.we_suspended == {"AZRebalance", "ScheduledActions"}, "ours stay ours"


def test_launching_picks_the_new_instance_and_protects_it():
    decision = decide(job(Phase.LAUNCHING), obs(group(Capacity(1, 2, 1), (ready(lifecycle="Pending"),))), SETTINGS)
    assert decision.job.phase is Phase.WAITING_INSTANCE and decision.job.instance_id == "i-1"
    assert decision.actions[-1] == ProtectInstance("web", "i-1", True)


def test_a_restarted_run_finds_its_instance_in_a_running_group_by_launch_time():
    running = job(Phase.LAUNCHING, original=Capacity(1, 3, 1), launch_requested=NOW - 100)
    old, new = ready("i-old", launch_time=NOW - 86_400), ready("i-new", launch_time=NOW - 90)
    decision = decide(running, obs(group(Capacity(1, 3, 2), (old, new))), SETTINGS)
    assert decision.job.instance_id == "i-new"


def test_a_restarted_run_never_takes_a_serving_instance_it_recorded():
    running = job(Phase.LAUNCHING, original=Capacity(1, 3, 1), launch_requested=NOW - 100,
                  preexisting=frozenset({"i-serving"[-8:]}))  # fmt: skip
    serving, new = ready("i-serving", launch_time=NOW - 5), ready("i-new", launch_time=NOW - 2)
    decision = decide(running, obs(group(Capacity(1, 3, 2), (serving, new))), SETTINGS)
    assert decision.job.instance_id == "i-new"


def test_a_lost_scale_up_is_asked_for_again():
    decision = decide(job(Phase.LAUNCHING), obs(group(ZERO)), SETTINGS)
    assert decision.actions == (SetCapacity("web", min=1, max=2, desired=1),)


def test_no_instance_within_the_launch_timeout_fails_with_the_launch_error():
    late = job(Phase.LAUNCHING, launch_requested=NOW - 601)
    decision = decide(late, obs(group(Capacity(1, 2, 1), failed_launch="Insufficient capacity")), SETTINGS)
    assert decision.job.phase is Phase.RESTORING and decision.job.outcome is Outcome.FAILED
    assert "no instance reached InService within 10 min" in decision.job.reason
    assert "Insufficient capacity" in decision.job.reason


def test_an_instance_that_never_came_up_is_replaced_by_the_next_launch():
    waiting = job(Phase.WAITING_INSTANCE, instance_id="i-1")
    decision = decide(waiting, obs(group(Capacity(1, 2, 1), (ready("i-2", lifecycle="Pending"),))), SETTINGS)
    assert decision.job.phase is Phase.LAUNCHING and "i-1" in decision.job.preexisting
    picked = decide(decision.job, obs(group(Capacity(1, 2, 1), (ready("i-2", lifecycle="Pending"),))), SETTINGS)
    assert picked.job.instance_id == "i-2"


def test_a_ready_instance_that_disappears_is_relaunched_once_then_the_group_fails():
    waiting = job(Phase.WAITING_INSTANCE, instance_id="i-1", ready_at=NOW - 5)
    first = decide(waiting, obs(group(Capacity(1, 2, 1))), SETTINGS)
    assert first.job.phase is Phase.LAUNCHING and first.job.relaunches == 1
    assert first.job.launch_requested == NOW and "i-1" in first.job.preexisting
    assert kinds(first) == ["WriteState"], "gone from the group: Auto Scaling replaces it by itself"
    picked = decide(first.job, obs(group(Capacity(1, 2, 1), (ready("i-2", lifecycle="Pending"),))), SETTINGS)
    assert picked.job.instance_id == "i-2" and picked.job.phase is Phase.WAITING_INSTANCE
    patching = replace(picked.job, phase=Phase.PATCHING, ready_at=NOW, command_id="c-2")
    second = decide(patching, obs(group(Capacity(1, 2, 1))), SETTINGS)
    assert second.job.outcome is Outcome.FAILED and second.job.phase is Phase.RESTORING
    assert "i-2 was lost while patching (no longer in the group: if detached, it still runs)" in second.job.reason
    assert "after 1 relaunch" in second.job.reason


def test_a_dead_patch_instance_still_listed_is_terminated_so_the_group_replaces_it():
    """With ReplaceUnhealthy suspended, Auto Scaling keeps an instance terminated through EC2 in the group."""
    patching = job(Phase.PATCHING, instance_id="i-1", ready_at=NOW - 60, command_id="c-1")
    dead = ready(ec2_state="terminated", ssm_ping="ConnectionLost")
    decision = decide(patching, obs(group(Capacity(1, 2, 1), (dead,)), command=CommandView("c-1", "InProgress")),
                      SETTINGS)  # fmt: skip
    assert kinds(decision) == ["TerminateInstance", "WriteState"]
    terminate = decision.actions[0]
    assert isinstance(terminate, TerminateInstance) and terminate == TerminateInstance("i-1", decrement=False)
    assert decision.job.phase is Phase.LAUNCHING and decision.job.command_id is None
    assert "(terminated)" in decision.job.reason and "launched another" in decision.job.reason


def test_a_patch_instance_lost_before_its_image_is_relaunched():
    imaging = job(Phase.IMAGING, instance_id="i-1", ready_at=NOW - 60, command_id="c-1")
    decision = decide(imaging, obs(group(Capacity(1, 2, 1), (ready(ec2_state="stopped"),))), SETTINGS)
    assert decision.job.phase is Phase.LAUNCHING and decision.job.relaunches == 1
    assert "i-1 was lost before its image was taken (stopped); launched another" in decision.job.reason
    detaching = decide(imaging, obs(group(Capacity(1, 2, 1), (ready(lifecycle="Detaching"),))), SETTINGS)
    assert "i-1 was lost before its image was taken (Detaching in the group)" in detaching.job.reason
    taken = decide(imaging, obs(group(Capacity(1, 2, 1)), image=ImageView("ami-9", "pending")), SETTINGS)
    assert taken.job.image_id == "ami-9" and taken.job.phase is Phase.IMAGING, "the image no longer needs it"


def test_a_relaunch_for_a_running_group_after_a_restart_uses_the_launch_time_rule():
    running = Capacity(2, 4, 3)
    patching = job(Phase.PATCHING, instance_id="i-9", original=Capacity(2, 4, 2), ready_at=NOW - 60)
    serving = (ready("i-a", launch_time=NOW - 86400, protected=False), ready("i-b", launch_time=NOW - 86400,
                                                                             protected=False))  # fmt: skip
    decision = decide(patching, obs(group(running, serving)), SETTINGS)
    assert decision.job.phase is Phase.LAUNCHING
    fresh = ready("i-c", lifecycle="Pending", launch_time=NOW + 5)
    picked = decide(decision.job, obs(group(running, (*serving, fresh)), now=NOW + 10), SETTINGS)
    assert picked.job.instance_id == "i-c", "only an instance launched since the relaunch is taken"


def test_a_patched_group_keeps_the_relaunch_note_in_its_report():
    updating = job(Phase.UPDATING_TEMPLATE, instance_id="i-2", image_id="ami-9", new_version=5, relaunches=1,
                   reason="the patch instance i-1 was lost while patching; launched another")  # fmt: skip
    view = replace(TEMPLATE, run_versions={3: 5})
    decision = decide(updating, obs(group(Capacity(1, 2, 1), (ready("i-2"),)), templates={"lt-1": view}), SETTINGS)
    assert decision.job.outcome is Outcome.PATCHED and "launched another" in decision.job.reason


def test_waiting_instance_starts_patching_once_online():
    waiting = job(Phase.WAITING_INSTANCE, instance_id="i-1")
    decision = decide(waiting, obs(group(Capacity(1, 2, 1), (ready(),))), SETTINGS)
    assert kinds(decision) == ["WriteState", "SendPatchCommand"]
    command = decision.actions[1]
    assert isinstance(command, SendPatchCommand) and command.operation == "Install"
    assert command.comment == "asgpatch r1 web"


def test_waiting_for_ssm_times_out_from_when_the_instance_was_ready():
    waiting = job(Phase.WAITING_INSTANCE, instance_id="i-1", ready_at=NOW - 301)
    decision = decide(waiting, obs(group(Capacity(1, 2, 1), (ready(ssm_ping=None),))), SETTINGS)
    assert "SSM agent on i-1 was not Online within 5 min" in decision.job.reason
    still = decide(
        replace(waiting, ready_at=NOW - 10), obs(group(Capacity(1, 2, 1), (ready(ssm_ping=None),))), SETTINGS
    )
    assert still.job.phase is Phase.WAITING_INSTANCE and still.actions == ()


def test_patching_resumes_with_the_command_found_by_its_comment():
    patching = job(Phase.PATCHING, instance_id="i-1")
    decision = decide(
        patching, obs(group(Capacity(1, 2, 1), (ready(),)), command=CommandView("c-9", "InProgress")), SETTINGS
    )
    assert decision.job.command_id == "c-9" and decision.actions == ()
    fresh = decide(patching, obs(group(Capacity(1, 2, 1), (ready(),))), SETTINGS)
    assert kinds(fresh) == ["SendPatchCommand"], "never sent before the restart: send it now"


def test_patch_timeout_cancels_the_command():
    patching = job(Phase.PATCHING, instance_id="i-1", command_id="c-1", phase_started=NOW - 3601)
    decision = decide(
        patching, obs(group(Capacity(1, 2, 1), (ready(),)), command=CommandView("c-1", "InProgress")), SETTINGS
    )
    assert CancelCommand("c-1", "i-1") in decision.actions
    assert "did not finish within 60 min" in decision.job.reason


def test_a_successful_patch_bakes_an_image_named_after_group_and_run():
    patching = job(Phase.PATCHING, instance_id="i-1", command_id="c-1")
    decision = decide(
        patching, obs(group(Capacity(1, 2, 1), (ready(),)), command=CommandView("c-1", "Success")), SETTINGS
    )
    image = decision.actions[-1]
    assert isinstance(image, CreateImage)
    assert image.name.startswith("asgpatch-web-") and image.name.endswith("-r1") and image.no_reboot
    assert image.tags["asgpatch:source-ami"] == "ami-3" and image.tags["asgpatch:run"] == "r1"


def test_image_timeout_deregisters_the_image():
    imaging = job(Phase.IMAGING, instance_id="i-1", image_id="ami-9", phase_started=NOW - 1801)
    decision = decide(imaging, obs(group(Capacity(1, 2, 1), (ready(),)), image=ImageView("ami-9", "pending")), SETTINGS)
    assert DeregisterImage("ami-9") in decision.actions
    assert decision.job.outcome is Outcome.FAILED


def test_an_available_image_gets_a_version_from_the_one_the_group_uses():
    imaging = job(Phase.IMAGING, instance_id="i-1", image_id="ami-9")
    decision = decide(
        imaging, obs(group(Capacity(1, 2, 1), (ready(),)), image=ImageView("ami-9", "available")), SETTINGS
    )
    version = decision.actions[-1]
    assert version == CreateTemplateVersion("lt-1", 3, "ami-9", "asgpatch r1: patched image, from version 3")


def test_updating_resumes_with_the_version_found_by_its_description():
    updating = job(Phase.UPDATING_TEMPLATE, instance_id="i-1", image_id="ami-9")
    templates = {"lt-1": replace(TEMPLATE, run_versions={3: 5})}
    decision = decide(updating, obs(group(Capacity(1, 2, 1), (ready(),)), templates=templates), SETTINGS)
    assert decision.job.new_version == 5
    assert not any(isinstance(a, CreateTemplateVersion) for a in decision.actions)


def test_restoring_asks_only_for_what_is_still_different_then_finishes():
    restoring = job(Phase.RESTORING, instance_id="i-1", outcome=Outcome.PATCHED,
                    we_suspended=frozenset({"AZRebalance"}))  # fmt: skip
    first = decide(restoring, obs(group(Capacity(1, 2, 1), (ready(),), suspended=frozenset({"AZRebalance"}))), SETTINGS)
    assert kinds(first) == ["ProtectInstance", "SetCapacity", "ResumeProcesses"]
    assert first.actions[1] == SetCapacity("web", min=0, max=2, desired=0)
    assert first.actions[2] == ResumeProcesses("web", frozenset({"AZRebalance"}))
    finished = decide(restoring, obs(group(ZERO)), SETTINGS)
    assert finished.job.phase is Phase.DONE
    assert isinstance(finished.actions[0], WriteResult) and isinstance(finished.actions[1], ClearState)


@pytest.mark.parametrize("complete", [True, False], ids=["serving-known", "serving-unknown"])
def test_restoring_a_running_group_whose_patch_instance_went_without_a_decrement(complete):
    """Its failed launch left desired at the scaled-up value and Auto Scaling launched a stand-in: the
    stand-in leaves with the decrement, never a serving instance; unknown serving instances: left alone."""
    original = Capacity(1, 3, 2)
    preexisting = frozenset({"i-a", "i-b"} if complete else {"i-a", "+"})
    restoring = job(Phase.RESTORING, instance_id="i-gone", original=original, outcome=Outcome.FAILED,
                    preexisting=preexisting)  # fmt: skip
    serving = (ready("i-a", protected=False), ready("i-b", protected=False))
    stand_in = ready("i-c", protected=False, launch_time=NOW - 5)
    decision = decide(restoring, obs(group(Capacity(1, 3, 3), (*serving, stand_in))), SETTINGS)
    terminated = [a for a in decision.actions if isinstance(a, TerminateInstance)]
    assert terminated == ([TerminateInstance("i-c", decrement=True)] if complete else [])
    assert not any(isinstance(a, SetCapacity) and a.desired == 2 for a in decision.actions if not complete)
    settled = decide(restoring, obs(group(original, serving)), SETTINGS)
    assert settled.job.phase is Phase.DONE, "back at the recorded capacity: nothing more to do"


def test_a_restore_waits_for_the_stand_in_then_takes_it_out_not_a_serving_instance():
    """The patch instance went without a decrement and Auto Scaling has yet to launch its stand-in: the
    restore waits for it (within the launch timeout), then terminates it with the decrement; after the
    timeout with none launched, lowering desired takes no instance."""
    original = Capacity(1, 3, 2)
    restoring = job(Phase.RESTORING, instance_id="i-gone", original=original, outcome=Outcome.FAILED,
                    preexisting=frozenset({"i-a", "i-b"}), phase_started=NOW - 10)  # fmt: skip
    serving = (ready("i-a", protected=False), ready("i-b", protected=False))
    waiting = decide(restoring, obs(group(Capacity(1, 3, 3), serving)), SETTINGS)
    assert waiting.job.phase is Phase.RESTORING and waiting.actions == ()
    late = replace(restoring, phase_started=NOW - SETTINGS.launch_timeout - 1)
    lowered = decide(late, obs(group(Capacity(1, 3, 3), serving)), SETTINGS)
    assert lowered.actions == (SetCapacity("web", min=1, max=3, desired=2),)


def test_a_tag_that_records_a_failure_outside_restoring_only_restores():
    """Format 2 records the outcome; a hand-edited tag can pair "failed" with a patching phase."""
    edited = job(Phase.UPDATING_TEMPLATE, new_version=5, outcome=Outcome.FAILED, reason="edited")
    decision = decide(edited, obs(group(ZERO), templates={"lt-1": replace(TEMPLATE, run_versions={3: 5})}), SETTINGS)
    assert decision.job.phase is Phase.RESTORING and decision.job.outcome is Outcome.FAILED
    assert kinds(decision) == ["WriteState"]


def test_a_resumed_preparing_job_scales_up_from_what_the_group_has_now():
    """Nothing was scaled before LAUNCHING was written: if someone resized the group meanwhile, its
    new size is what it goes back to, and the scale-up is a valid request from it."""
    preparing = job(Phase.PREPARING, original=Capacity(0, 1, 1), preexisting=frozenset({"i-old"}))
    view = group(Capacity(3, 3, 3), tuple(ready(f"i-{n}", protected=False) for n in range(3)))
    decision = decide(preparing, obs(view), SETTINGS)
    assert decision.job.original == Capacity(3, 3, 3)
    assert decision.job.preexisting == frozenset({"i-0", "i-1", "i-2"})
    assert decision.actions[-1] == SetCapacity("web", max=4, desired=4)


def test_a_resumed_preparing_job_on_a_group_without_a_template_restores_it():
    """A run stopped while preparing may have suspended processes: a group switched to a launch
    configuration meanwhile is restored, not just released."""
    preparing = job(Phase.PREPARING, we_suspended=frozenset({"AZRebalance"}))
    view = group(ZERO, suspended=frozenset({"AZRebalance"}), template=None, launch_configuration="lc-1")
    decision = decide(preparing, obs(view), SETTINGS)
    assert decision.job.phase is Phase.RESTORING and decision.job.outcome is Outcome.FAILED
    assert "no longer launches from a launch template" in decision.job.reason
    restored = decide(decision.job, obs(view), SETTINGS)
    assert ResumeProcesses("web", frozenset({"AZRebalance"})) in restored.actions


def test_an_unprotected_patch_instance_is_protected_again_while_it_is_needed():
    """Protection is level-triggered: a ProtectInstance that failed is asked for on the next tick."""
    for phase in (Phase.WAITING_INSTANCE, Phase.PATCHING, Phase.IMAGING):
        current = job(phase, instance_id="i-1", ready_at=NOW - 5, command_id="c-1")
        view = obs(group(Capacity(1, 2, 1), (ready(protected=False, ssm_ping="Offline"),)),
                   command=CommandView("c-1", "InProgress"))  # fmt: skip
        decision = decide(current, view, SETTINGS)
        assert decision.actions[0] == ProtectInstance("web", "i-1", True), phase
    protected = obs(group(Capacity(1, 2, 1), (ready(),)), command=CommandView("c-1", "InProgress"))
    kept = decide(job(Phase.PATCHING, instance_id="i-1", command_id="c-1"), protected, SETTINGS)
    assert kept.actions == (), "already protected: nothing to ask for"


def test_a_patch_command_is_not_resent_while_the_agent_is_briefly_offline():
    patching = job(Phase.PATCHING, instance_id="i-1", ready_at=NOW - 60)
    offline = obs(group(Capacity(1, 2, 1), (ready(ssm_ping="ConnectionLost"),)))
    assert decide(patching, offline, SETTINGS).actions == ()
    overdue = replace(patching, phase_started=NOW - SETTINGS.ssm_timeout - 1)
    assert kinds(decide(overdue, offline, SETTINGS)) == ["SendPatchCommand"], "then sent, and its error decides"
    online = obs(group(Capacity(1, 2, 1), (ready(),)))
    assert kinds(decide(patching, online, SETTINGS)) == ["SendPatchCommand"]


def test_restoring_a_failed_group_cancels_its_command_and_drops_its_image():
    restoring = job(Phase.RESTORING, instance_id="i-1", command_id="c-1", image_id="ami-9", outcome=Outcome.FAILED)
    view = obs(group(ZERO), command=CommandView("c-1", "InProgress"), image=ImageView("ami-9", "failed"))
    decision = decide(restoring, view, SETTINGS)
    assert kinds(decision) == ["CancelCommand", "DeregisterImage"]


def test_min_max_changed_by_someone_during_the_run_are_kept_and_desired_brought_within_them():
    recorded = Capacity(0, 4, 3)  # a running group: 0/4/3, asgpatch scaled it to 0/4/4
    restoring = job(Phase.RESTORING, instance_id="i-1", outcome=Outcome.PATCHED, original=recorded)
    serving = (
        ready("i-1"),
        ready("i-a", protected=False),
        ready("i-b", protected=False),
        ready("i-c", protected=False),
    )
    changed = group(Capacity(1, 2, 4), serving)  # meanwhile an operator set min 1, max 2
    decision = decide(restoring, obs(changed), SETTINGS)
    assert decision.actions[0] == WriteState(decision.job)
    assert "min/max changed to 1/2 during the run (recorded 0/4): kept them, desired 2 instead of 3" in (
        decision.job.reason
    )
    assert SetCapacity("web", min=1, max=2, desired=2) in decision.actions
    assert decision.job.outcome is Outcome.PATCHED, "the group was patched; the note explains the size"
    settled = decide(decision.job, obs(group(Capacity(1, 2, 2))), SETTINGS)
    assert settled.job.phase is Phase.DONE, "nothing left to change; the note is not written twice"
    assert decision.job.reason.count("min/max changed") == 1


def test_limits_asgpatch_set_itself_are_not_mistaken_for_a_change():
    at_zero = job(Phase.RESTORING, instance_id="i-1", outcome=Outcome.FAILED, original=Capacity(0, 3, 0))
    decision = decide(at_zero, obs(group(Capacity(1, 3, 1), (ready(),))), SETTINGS)
    assert SetCapacity("web", min=0, max=3, desired=0) in decision.actions and decision.job.reason == ""
    full = job(Phase.RESTORING, instance_id="i-1", outcome=Outcome.PATCHED, original=Capacity(2, 2, 2))
    decision = decide(full, obs(group(Capacity(2, 3, 3), (ready(), ready("i-a", protected=False)))), SETTINGS)
    assert SetCapacity("web", min=2, max=2, desired=2) in decision.actions and decision.job.reason == ""


def test_a_salvaged_job_records_a_readable_state_before_it_restores():
    corrupt = "1|r0|patching|0,2,0|xx"
    salvaged = job(Phase.RESTORING, outcome=Outcome.FAILED, reason="unreadable", salvaged_from=corrupt)
    view = group(Capacity(1, 2, 1), tags={"ep:asg:patch": "true", "asgpatch:lease": f"r1 {int(NOW) + 200}",
                                          "asgpatch:state": corrupt})  # fmt: skip
    decision = decide(salvaged, obs(view), SETTINGS)
    assert kinds(decision) == ["WriteState"] and decision.job.salvaged_from is None
    changed = replace(view, tags={**view.tags, "asgpatch:state": "2|r5|restoring|..."})
    left = decide(salvaged, obs(changed), SETTINGS)
    assert left.actions == () and left.job.outcome is Outcome.SKIPPED and "changed meanwhile" in left.job.reason


def test_a_done_job_stays_done():
    done = job(Phase.DONE, outcome=Outcome.PATCHED)
    assert decide(done, obs(None), SETTINGS).actions == ()


def test_override_templates_on_the_same_image_get_a_version_and_others_do_not():
    mixed = TemplateRef(
        TemplateSpec("lt-1", "3"), mixed_policy=True,
        overrides=(TemplateSpec("lt-1", "3"), TemplateSpec("lt-x86", "$Default"), TemplateSpec("lt-arm", "1")),
    )  # fmt: skip
    templates = {
        "lt-1": replace(TEMPLATE, run_versions={3: 5}),
        "lt-x86": TemplateView("lt-x86", "x86", default_version=2, latest_version=2, images={2: "ami-3"}),
        "lt-arm": TemplateView("lt-arm", "arm", default_version=1, latest_version=1, images={1: "ami-arm"}),
    }
    updating = job(Phase.UPDATING_TEMPLATE, instance_id="i-1", image_id="ami-9", new_version=5)
    first = decide(updating, obs(group(template=mixed), templates=templates), SETTINGS)
    assert first.actions == (CreateTemplateVersion("lt-x86", 2, "ami-9", "asgpatch r1: patched image, from version 2"),)
    templates["lt-x86"] = replace(templates["lt-x86"], run_versions={2: 3})
    second = decide(updating, obs(group(template=mixed), templates=templates), SETTINGS)
    assert second.job.phase is Phase.RESTORING
    assert UseTemplateVersion("web", "lt-1", 5, True, current="3") in second.actions
    assert SetDefaultVersion("lt-x86", 3) in second.actions
    assert not any(getattr(a, "template_id", None) == "lt-arm" for a in second.actions), "another image lineage"


# --- one run at a time ---------------------------------------------------------------------------


def _leased(owner: str, expires: float) -> GroupView:
    return group(tags={"ep:asg:patch": "true", "asgpatch:lease": f"{owner} {int(expires)}", "asgpatch:state": "1|r1|."})


def test_a_run_claims_a_group_before_touching_it():
    decision = decide(job(claimed=False), obs(group(tags={"ep:asg:patch": "true"})), SETTINGS)
    assert decision.actions == (WriteLease(("web",), "r1", NOW + SETTINGS.lease_seconds),)
    assert decision.job.claimed and decision.job.phase is Phase.PENDING


def test_a_group_leased_by_a_live_run_is_left_to_it():
    decision = decide(job(claimed=False), obs(_leased("r2", NOW + 60)), SETTINGS)
    assert decision.job.outcome is Outcome.SKIPPED and decision.actions == ()
    assert "left to run r2" in decision.job.reason


def test_an_expired_lease_is_taken_over():
    decision = decide(job(claimed=False), obs(_leased("r2", NOW - 1)), SETTINGS)
    assert decision.actions == (WriteLease(("web",), "r1", NOW + SETTINGS.lease_seconds),)


def test_a_run_that_lost_its_lease_backs_off_without_touching_the_group():
    patching = job(Phase.PATCHING, instance_id="i-1", command_id="c-1")
    decision = decide(patching, obs(_leased("r2", NOW + 60)), SETTINGS)
    assert decision.job.outcome is Outcome.SKIPPED and decision.actions == ()
    assert "taken over by run r2" in decision.job.reason


def test_a_resumed_job_is_driven_under_the_new_run_lease():
    resumed = job(Phase.PATCHING, instance_id="i-1", command_id="c-1", owner="r9", claimed=False)
    decision = decide(resumed, obs(_leased("r1", NOW - 5)), SETTINGS)
    assert decision.actions == (WriteLease(("web",), "r9", NOW + SETTINGS.lease_seconds),), "r1 stopped; r9 claims"


def test_removing_the_patch_tag_mid_run_stops_and_restores():
    patching = job(Phase.PATCHING, instance_id="i-1", command_id="c-1")
    view = group(tags={"asgpatch:lease": f"r1 {int(NOW) + 60}", "asgpatch:state": "1|r1|..."})
    decision = decide(patching, obs(view), SETTINGS)
    assert decision.job.phase is Phase.RESTORING and decision.job.outcome is Outcome.SKIPPED
    assert "was removed during the run" in decision.job.reason


def test_skipping_before_any_change_gives_the_claim_back():
    decision = decide(job(), obs(group(template=None, launch_configuration="old-lc")), SETTINGS)
    assert decision.job.outcome is Outcome.SKIPPED
    assert decision.actions == (ClearState("web", lease_only=True),)


def test_a_job_whose_state_another_run_replaced_or_removed_is_left_alone():
    patching = job(Phase.PATCHING, instance_id="i-1", command_id="c-1")
    for state in ({}, {"asgpatch:state": "1|r7|restoring|..."}):
        tags = {"ep:asg:patch": "true", "asgpatch:lease": f"r1 {int(NOW) + 60}", **state}
        decision = decide(patching, obs(group(tags=tags)), SETTINGS)
        assert decision.job.outcome is Outcome.SKIPPED and decision.actions == ()
        assert "another run" in decision.job.reason


def test_a_partly_read_tag_is_kept_so_every_run_reports_the_group():
    corrupt = "garbage"
    partial = job(Phase.RESTORING, outcome=Outcome.FAILED, reason="could not read its capacity", original=None,
                  we_suspended=frozenset(), salvaged_from=corrupt, partly_read=True)  # fmt: skip
    view = group(Capacity(1, 2, 1), tags={"ep:asg:patch": "true", "asgpatch:lease": f"r1 {int(NOW) + 200}",
                                          "asgpatch:state": corrupt})  # fmt: skip
    decision = decide(partial, obs(view), SETTINGS)
    assert decision.job.phase is Phase.DONE and decision.job.outcome is Outcome.FAILED
    assert not any(isinstance(a, (WriteState, SetCapacity, ResumeProcesses)) for a in decision.actions)
    assert decision.actions[-1] == ClearState("web", lease_only=True), "the unreadable tag stays"


def test_a_patch_instance_at_the_minimum_is_replaced_after_the_processes_are_back():
    """Auto Scaling refuses to decrement below the minimum; a replacement launched while AddToLoadBalancer
    is suspended would never be registered, so the processes are resumed first."""
    restoring = job(Phase.RESTORING, instance_id="i-1", outcome=Outcome.FAILED, original=Capacity(1, 2, 1),
                    we_suspended=frozenset({"AddToLoadBalancer"}))  # fmt: skip
    view = group(Capacity(1, 2, 1), (ready(),), suspended=frozenset({"AddToLoadBalancer"}))
    decision = decide(restoring, obs(view), SETTINGS)
    assert kinds(decision) == ["ProtectInstance", "ResumeProcesses", "TerminateInstance"]
    assert decision.actions[-1] == TerminateInstance("i-1", decrement=False)


def test_a_note_on_a_kept_unreadable_tag_stays_in_memory():
    """Writing the note would replace the unreadable tag that is kept so every run reports the group."""
    corrupt = "2|r0|?|0,4,3|??|??"
    partial = job(Phase.RESTORING, outcome=Outcome.FAILED, reason="could not read which processes",
                  original=Capacity(0, 4, 3), salvaged_from=corrupt, partly_read=True)  # fmt: skip
    view = group(Capacity(1, 2, 2), tags={"ep:asg:patch": "true", "asgpatch:lease": f"r1 {int(NOW) + 200}",
                                          "asgpatch:state": corrupt})  # fmt: skip
    decision = decide(partial, obs(view), SETTINGS)
    assert "min/max changed to 1/2" in decision.job.reason
    assert not any(isinstance(a, WriteState) for a in decision.actions)


# --- a group that shares another group's bake -----------------------------------------------------


def bake(phase: Phase, **changes: object) -> Job:
    host = Job("web-host", "r1", phase, phase_started=NOW - 10, original=ZERO, template_id="lt-1", source_version=3,
               source_image="ami-3", image_id="ami-9", new_version=5, claimed=True)  # fmt: skip
    return replace(host, **changes)  # type: ignore[arg-type]


def follower(**changes: object) -> Job:
    return replace(job(), bake_with="web-host", **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize("phase", [Phase.LAUNCHING, Phase.PATCHING, Phase.IMAGING, Phase.UPDATING_TEMPLATE])
def test_a_follower_changes_nothing_while_its_bake_is_under_way(phase):
    decision = decide(follower(), obs(group(capacity=Capacity(1, 3, 1)), bake=bake(phase, new_version=None)), SETTINGS)
    assert decision.actions == () and decision.job == follower()


def test_a_follower_is_pointed_at_the_bakes_version_once_the_bake_has_pointed_its_own_group():
    host = bake(Phase.RESTORING, outcome=Outcome.PATCHED)
    pinned = group(template=TemplateRef(TemplateSpec("lt-1", "3")), capacity=Capacity(1, 3, 1))
    first = decide(follower(), obs(pinned, bake=host), SETTINGS)
    assert kinds(first) == ["WriteState"] and first.job.phase is Phase.UPDATING_TEMPLATE
    assert (first.job.image_id, first.job.new_version, first.job.original) == ("ami-9", 5, None)
    templates = {"lt-1": replace(TEMPLATE, images={3: "ami-3", 4: "ami-4", 5: "ami-9"}, latest_version=5)}
    second = decide(first.job, obs(pinned, templates=templates, bake=host), SETTINGS)
    assert second.actions[0] == UseTemplateVersion("web", "lt-1", 5, False, current="3")
    assert second.job.outcome is Outcome.PATCHED and second.job.phase is Phase.RESTORING
    done = decide(second.job, obs(pinned, templates=templates), SETTINGS)
    assert kinds(done) == ["WriteResult", "ClearState"], "nothing to restore: its capacity was never changed"


@pytest.mark.parametrize(("outcome", "word"), [(Outcome.FAILED, "failed"), (Outcome.SKIPPED, "was skipped")])
def test_a_follower_whose_bake_ended_without_a_patch_ends_the_same_way_untouched(outcome, word):
    host = bake(Phase.DONE, outcome=outcome, new_version=None, reason="image ami-9 failed")
    decision = decide(follower(), obs(group(), bake=host), SETTINGS)
    assert decision.job.done and decision.job.outcome is outcome
    assert f"shares the bake of web-host, which {word}: image ami-9 failed" in decision.job.reason
    assert decision.actions == (ClearState("web", lease_only=True),)


def test_a_follower_whose_template_changed_meanwhile_is_left_as_it_is():
    moved = group(template=TemplateRef(TemplateSpec("lt-other", "1")))
    decision = decide(follower(), obs(moved, bake=bake(Phase.RESTORING, outcome=Outcome.PATCHED)), SETTINGS)
    assert decision.job.outcome is Outcome.SKIPPED and "changed during the run" in decision.job.reason


# --- compliance before baking ---------------------------------------------------------------------


def succeeded(**changes: object) -> Observation:
    view = group(Capacity(1, 2, 1), (ready(),))
    return obs(view, command=CommandView("c-1", "Success"), **changes)


PATCHING = job(Phase.PATCHING, instance_id="i-1", command_id="c-1")


def test_a_clean_install_bakes_and_its_counts_are_recorded():
    decision = decide(PATCHING, succeeded(), SETTINGS)
    assert decision.job.phase is Phase.IMAGING and decision.job.patches == PatchCounts(14, 0, 0)
    assert isinstance(decision.actions[-1], CreateImage)


@pytest.mark.parametrize("compliance", [None, ComplianceView(PatchCounts(9, 5, 0), "Scan", ended=NOW - 3600)])
def test_no_compliance_from_this_install_yet_is_waited_for_then_fails(compliance):
    assert decide(PATCHING, succeeded(compliance=compliance), SETTINGS).actions == ()
    late = decide(PATCHING, succeeded(compliance=compliance, now=NOW + SETTINGS.patch_timeout), SETTINGS)
    assert late.job.outcome is Outcome.FAILED and "no patch compliance was reported for i-1" in late.job.reason
    assert not any(isinstance(a, CreateImage) for a in late.actions)


def test_patches_missing_or_failed_after_the_install_fail_the_group_unbaked():
    partial = ComplianceView(PatchCounts(12, 1, 2), "Install", ended=NOW)
    decision = decide(PATCHING, succeeded(compliance=partial), SETTINGS)
    assert decision.job.outcome is Outcome.FAILED and decision.job.phase is Phase.RESTORING
    assert "1 missing and 2 failed" in decision.job.reason and decision.job.patches == PatchCounts(12, 1, 2)
    assert not any(isinstance(a, CreateImage) for a in decision.actions)
    baked = decide(PATCHING, succeeded(compliance=partial), replace(SETTINGS, compliance="report"))
    assert baked.job.phase is Phase.IMAGING and "baked with 1 missing and 2 failed patches" in baked.job.reason


# --- load balancers and scale-outs during the window -------------------------------------------------


def test_a_scale_out_during_the_window_is_no_stand_in_once_the_restore_took_the_patch_instance_out():
    """A running group at 1 scaled out to 3 while patched (2 + the patch instance): the restore takes
    the patch instance out with a decrement and records it, so the instance the scale-out launched is
    kept, not mistaken for the stand-in of a patch instance that went without a decrement."""
    original = Capacity(1, 4, 1)
    restoring = job(Phase.RESTORING, instance_id="i-patch", original=original, outcome=Outcome.PATCHED,
                    preexisting=frozenset({"i-a"}))  # fmt: skip
    scaled_out = ready("i-new", protected=False, launch_time=NOW - 30)
    first = decide(restoring, obs(group(Capacity(1, 4, 3), (ready("i-a", protected=False), ready("i-patch"),
                                                              scaled_out))), SETTINGS)  # fmt: skip
    kinds_in_order = [type(a).__name__ for a in first.actions]
    recorded = next(a for a in first.actions if isinstance(a, WriteState))
    assert first.job.decremented and recorded.job.decremented
    assert kinds_in_order.index("WriteState") < first.actions.index(TerminateInstance("i-patch", decrement=True))
    after = decide(first.job, obs(group(Capacity(1, 4, 2), (ready("i-a", protected=False), scaled_out))), SETTINGS)
    assert not any(isinstance(a, TerminateInstance) for a in after.actions), "the scale-out stays"
    assert after.job.phase is Phase.DONE


def test_instances_launched_while_add_to_load_balancer_was_held_are_registered_once_it_runs_again():
    restoring = job(Phase.RESTORING, outcome=Outcome.PATCHED, original=Capacity(1, 4, 1), isolated_since=NOW - 600,
                    we_suspended=frozenset({"AddToLoadBalancer"}), decremented=True, instance_id="i-patch")  # fmt: skip
    old, new = ready("i-old", protected=False, launch_time=NOW - 86_400), ready("i-new", protected=False)
    view = group(Capacity(1, 4, 2), (old, new), target_groups=("arn:tg",), load_balancers=("web-clb",))
    seen = {"arn:tg": frozenset({"i-old"}), "elb:web-clb": frozenset({"i-old"})}
    decision = decide(restoring, obs(view, registered=seen), SETTINGS)
    assert decision.actions == (RegisterInstances("web", ("i-new",), ("arn:tg",), ("web-clb",)),)
    held = decide(restoring, obs(replace(view, suspended=frozenset({"AddToLoadBalancer"})), registered=seen), SETTINGS)
    assert not any(isinstance(a, RegisterInstances) for a in held.actions), "not before the process runs again"
    registered = {"arn:tg": frozenset({"i-old", "i-new"}), "elb:web-clb": frozenset({"i-old", "i-new"})}
    assert decide(restoring, obs(view, registered=registered), SETTINGS).job.phase is Phase.DONE
