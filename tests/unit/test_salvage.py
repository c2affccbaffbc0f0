"""Unreadable state tags: restored from the fields that can be read, refused when a newer asgpatch wrote them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from asgpatch.model import ISOLATING_PROCESSES, Capacity, GroupView, InstanceView, Job, Outcome, Phase
from asgpatch.salvage import Refused, read_state, repaired_capacity

NOW = 1_800_000_000.0
PATCH = InstanceView("i-0123456789abcdef0", "InService", protected=True, ec2_state="running")
SCALED = Capacity(1, 2, 1)  # a group at zero, scaled up for its patch instance
SERVING = InstanceView("i-0fedcba9876543210", "InService", protected=False, ec2_state="running")


def group(state: str, instances: tuple[InstanceView, ...] = (PATCH,), capacity: Capacity = SCALED) -> GroupView:
    return GroupView("web", capacity, {"asgpatch:state": state}, instances=instances)


def salvaged(state: str, instances: tuple[InstanceView, ...] = (PATCH,), capacity: Capacity = SCALED) -> Job:
    found = read_state(group(state, instances, capacity), "r1", NOW)
    assert isinstance(found, Job)
    return found


def test_a_readable_tag_is_decoded_not_salvaged():
    job = salvaged("2|r0|patching|0,2,0||BIRSZ|1|1|i-0123456789abcdef0|||||||||")
    assert job.salvaged_from is None and job.phase is Phase.PATCHING and job.run_id == "r0"


def test_a_hand_edited_phase_keeps_capacity_processes_and_the_patch_instance():
    value = "2|r0|Patching!|0,2,0|S|BIRZ|1|1|i-0123456789abcdef0|||||||||"
    job = salvaged(value)
    assert (job.phase, job.outcome, job.run_id, job.owner) == (Phase.RESTORING, Outcome.FAILED, "r1", "r1")
    assert job.original == Capacity(0, 2, 0) and job.was_at_zero
    assert job.was_suspended == {"ScheduledActions"}
    assert job.we_suspended == ISOLATING_PROCESSES - {"ScheduledActions"}
    assert job.instance_id == PATCH.instance_id and job.salvaged_from == value
    assert "unreadable asgpatch:state tag" in job.reason and "could not read" not in job.reason
    assert job.image_id is None and job.new_version is None, "nothing created is deleted on a guess"


def test_unknown_processes_are_left_suspended_and_said_so():
    job = salvaged("2|r0|patching|0,2,0|??|??|1|1|i-0123456789abcdef0|||||||||")
    assert job.we_suspended == frozenset() and "which processes asgpatch suspended (left suspended)" in job.reason


def test_what_was_suspended_before_tells_what_asgpatch_suspended():
    job = salvaged("2|r0|patching|0,2,0|SZ|?|1")
    assert job.we_suspended == ISOLATING_PROCESSES - {"ScheduledActions", "AZRebalance"}


def test_an_unknown_layout_trusts_no_position():
    job = salvaged("patching 0,2,0 i-0123456789abcdef0")
    assert job.original is None and job.we_suspended == frozenset() and job.instance_id is None
    assert "its capacity (left as it is)" in job.reason and "left suspended" in job.reason


def test_an_instance_id_is_trusted_only_for_a_protected_instance_in_the_group():
    edited = f"2|r0|?|0,2,0||BIRSZ|1|1|{SERVING.instance_id}|||||||||"
    assert salvaged(edited, (PATCH, SERVING)).instance_id is None, "never terminate a serving instance on a guess"
    gone = "2|r0|?|0,2,0||BIRSZ|1|1|i-0aaaaaaaaaaaaaaaa|||||||||"
    assert salvaged(gone).instance_id is None


def test_a_newer_format_is_refused():
    found = read_state(group("7|r0|patching|0,2,0"), "r1", NOW)
    assert isinstance(found, Refused) and "written by a newer asgpatch" in found.reason


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0,2,0", Capacity(0, 2, 0)),
        ("3,2,2", Capacity(2, 3, 2)),  # limits swapped by hand
        ("1,4,9", Capacity(1, 4, 4)),  # desired above max
        ("2,4,0", Capacity(2, 4, 2)),  # desired below min: never smaller than the minimum
        ("0,2", None),
        ("a,b,c", None),
        ("-1,2,0", None),
    ],
)
def test_recorded_capacity_is_repaired_into_min_desired_max(text: str, expected: Capacity | None):
    capacity, note = repaired_capacity(text)
    assert capacity == expected
    assert bool(note) == (expected is not None and f"{expected.min},{expected.max},{expected.desired}" != text)


@given(st.text(alphabet="0123456789|,abcdefghi-BIRSZQ?rpstn", max_size=120))
def test_any_tag_yields_a_restoring_job_or_a_refusal_never_an_exception(value: str):
    found = read_state(group(value), "r1", NOW)
    if isinstance(found, Job) and found.salvaged_from is not None:
        assert found.phase is Phase.RESTORING and found.outcome is Outcome.FAILED
        if found.original is not None:
            assert found.original.min <= found.original.desired <= found.original.max


def test_without_a_readable_id_the_one_instance_the_group_did_not_have_before_is_the_patch_instance():
    new = InstanceView("i-0aaaaaaaaaaaaaaaa", "Pending", protected=False)
    listed = f"{SERVING.instance_id[-8:]}"
    running = salvaged(f"2|r0|?|1,3,1||BIRSZ|1|1|||||||{listed}|||", (SERVING, new), Capacity(1, 3, 2))
    assert running.instance_id == new.instance_id, "named by the list of instances there before the scale-up"
    unlisted = salvaged("2|r0|?|1,3,1||BIRSZ|1|1||||||||||||", (SERVING, new), Capacity(1, 3, 2))
    assert unlisted.instance_id is None and "which instance is the patch instance" in unlisted.reason
    assert unlisted.partly_read, "kept and reported until an operator sees to the extra instance"
    at_zero = salvaged("2|r0|?|0,2,0||BIRSZ|1|1|garbled|||||||||", (new,))
    assert at_zero.instance_id == new.instance_id, "a group at zero had no instance of its own"
