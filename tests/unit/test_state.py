"""The asgpatch:state tag: round trips within 256 characters; anything else is a StateError."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from asgpatch.model import ISOLATING_PROCESSES, Capacity, Job, Outcome, Phase
from asgpatch.state import (
    PROCESS_CODES,
    TAG_VALUE_LIMIT,
    NewerStateError,
    StateError,
    decode,
    encode,
    names_run,
    reason_value,
    result_value,
)

PROCESSES = sorted(PROCESS_CODES)
ids = st.text("abcdef0123456789", min_size=8, max_size=17)

jobs = st.builds(
    Job,
    group=st.just("web"),
    run_id=st.builds("20261127T{:06d}Z-{:04x}".format, st.integers(0, 235959), st.integers(0, 65535)),
    phase=st.sampled_from(list(Phase)),
    phase_started=st.integers(0, 2_000_000_000).map(float),
    original=st.none()
    | st.tuples(st.integers(0, 500), st.integers(0, 500), st.integers(0, 500)).map(
        lambda t: Capacity(min(t), max(t), sorted(t)[1])
    ),
    was_suspended=st.frozensets(st.sampled_from(PROCESSES)),
    we_suspended=st.frozensets(st.sampled_from(sorted(ISOLATING_PROCESSES))),
    launch_requested=st.none() | st.integers(0, 2_000_000_000).map(float),
    instance_id=st.none() | ids.map(lambda s: f"i-{s}"),
    ready_at=st.none() | st.integers(0, 2_000_000_000).map(float),
    command_id=st.none() | st.uuids().map(str),
    image_id=st.none() | ids.map(lambda s: f"ami-{s}"),
    source_image=st.none() | ids.map(lambda s: f"ami-{s}"),
    template_id=st.none() | ids.map(lambda s: f"lt-{s}"),
    source_version=st.none() | st.integers(1, 10_000),
    new_version=st.none() | st.integers(1, 10_000),
    reason=st.text(max_size=300),
    outcome=st.none() | st.sampled_from(list(Outcome)),
    relaunches=st.integers(0, 3),
)


@given(jobs)
def test_every_job_fits_the_tag_and_round_trips(job: Job):
    value = encode(job)
    assert len(value) <= TAG_VALUE_LIMIT and len(reason_value(job)) <= TAG_VALUE_LIMIT
    back = decode("web", value, reason_value(job))
    same = ("run_id", "phase", "original", "was_suspended", "we_suspended", "instance_id", "command_id",
            "image_id", "source_image", "launch_requested", "ready_at", "relaunches")  # fmt: skip
    for name in same:
        assert getattr(back, name) == getattr(job, name), name
    if job.template_id:  # versions are only ever recorded with their template
        assert (back.template_id, back.source_version, back.new_version) == (
            job.template_id, job.source_version, job.new_version
        )  # fmt: skip
    assert back.reason == job.reason[:TAG_VALUE_LIMIT], "the reason has a tag of its own: never cut to fit the state"


@pytest.mark.parametrize(
    "value",
    [
        "",
        "garbage",
        "4|run|patching|0,2,0|||1||||||||||||||",  # a newer format
        "2|run|patching|0,2,0|||1||||||||||",  # version 2 needs 18 fields
        "1|run|sleeping|0,2,0|||||||||||||",  # unknown phase
        "1|run|patching|0,2|||||||||||||",  # bad capacity
        "1|run|patching|0,-2,0|||||||||||||",  # negative capacity
        "1|run|patching|3,2,2|||||||||||||",  # min above max: hand-edited
        "1|run|patching|0,2,0|Q||||||||||||",  # unknown process code
        "1||patching|0,2,0|||||||||||||",  # no run id
        "1|run|patching|0,2,0|",  # truncated
        "1|run|patching|0,2,0|||x||||||||||",  # bad time
    ],
)
def test_unreadable_state_is_a_state_error(value: str):
    with pytest.raises(StateError):
        decode("web", value)


def test_newer_format_names_itself():
    with pytest.raises(NewerStateError, match="state format 4 is newer than this asgpatch reads"):
        decode("web", "4|run|patching")
    with pytest.raises(StateError) as error:
        decode("web", "x|run|patching")
    assert not isinstance(error.value, NewerStateError), "not a format at all: salvage, not refuse"


def test_a_version_1_tag_is_still_read():
    """A group left in flight by an asgpatch from before version 2 (no relaunches, no outcome field)."""
    value = "1|r0|patching|0,2,0||BIRSZ|1700000000|1700000000|i-0123456789abcdef0||c-1||lt-1:3>||||"
    job = decode("web", value)
    assert (job.run_id, job.phase, job.original, job.instance_id, job.relaunches, job.outcome) == (
        "r0", Phase.PATCHING, Capacity(0, 2, 0), "i-0123456789abcdef0", 0, None
    )  # fmt: skip
    restoring = decode("web", "1|r0|restoring|0,2,0||BIRSZ|1||i-1||||lt-1:3>4|||")
    assert restoring.outcome is Outcome.PATCHED, "version 1 infers the outcome: a new version and no reason"
    assert names_run(value, "r0") and names_run(encode(job), "r0") and not names_run(value, "r")


def test_a_version_2_tag_is_still_read_with_its_reason_in_its_last_field():
    value = "2|r0|patching|0,2,0||BIRSZ|1|1|i-0123456789abcdef0|||||||1||the instance was relaunched|x"
    job = decode("web", value, "a reason tag a version 2 never wrote")
    assert (job.relaunches, job.reason, job.isolated_since, job.patches) == (
        1,
        "the instance was relaunched|x",
        None,
        None,
    )


def test_the_outcome_relaunches_and_reason_round_trip():
    job = Job("web", "r1", Phase.RESTORING, outcome=Outcome.PATCHED, new_version=4, template_id="lt-1",
              relaunches=1, reason="the patch instance i-1 was lost while patching; launched another")  # fmt: skip
    back = decode("web", encode(job), reason_value(job))
    assert (back.outcome, back.relaunches, back.reason) == (Outcome.PATCHED, 1, job.reason)


def test_last_result_names_run_result_image_and_time():
    job = Job("web", "r1", Phase.DONE, outcome=Outcome.PATCHED, image_id="ami-1")
    assert result_value(job, 1_800_000_000) == "r1 patched ami-1 2027-01-15T08:00:00Z"
    failed = Job("web", "r1", Phase.DONE, outcome=Outcome.FAILED, reason="SSM agent not Online")
    assert result_value(failed, 1_800_000_000).endswith("failed - 2027-01-15T08:00:00Z SSM agent not Online")


def test_instances_before_the_scale_up_are_remembered_until_the_patch_instance_is_known():
    serving = frozenset({"i-0123456789abcdef0", "i-0fedcba987654321f"})
    launching = Job("web", "r1", Phase.LAUNCHING, original=Capacity(2, 4, 2), preexisting=serving)
    back = decode("web", encode(launching))
    assert back.preexisting == {"89abcdef0"[-8:], "87654321f"[-8:]}
    waiting = Job("web", "r1", Phase.WAITING_INSTANCE, instance_id="i-0aaaaaaaaaaaaaaaa", preexisting=serving)
    assert len(decode("web", encode(waiting)).preexisting) == 2, "kept while the instance may still fail"
    patching = Job("web", "r1", Phase.PATCHING, instance_id="i-0aaaaaaaaaaaaaaaa", preexisting=serving)
    assert decode("web", encode(patching)).preexisting == frozenset(), "not needed once it is in service"
    restoring = Job("web", "r1", Phase.RESTORING, original=Capacity(2, 4, 2), preexisting=serving, reason="x")
    assert len(decode("web", encode(restoring)).preexisting) == 2, "a running group's restore tells a stand-in by it"
    at_zero = replace(restoring, original=Capacity(0, 2, 0))
    assert decode("web", encode(at_zero)).preexisting == frozenset(), "a group at zero is restored by its capacity"
    crowded = Job("web", "r1", Phase.LAUNCHING, preexisting=frozenset(f"i-{n:017x}" for n in range(40)))
    assert len(encode(crowded)) <= TAG_VALUE_LIMIT
    assert decode("web", encode(crowded)).preexisting == {"+"}, "too many to list: marked, the time rule decides"


ALIAS = "resolve:ssm:/aws/service/ami-amazon-linux-latest/" + "al2023-ami-kernel-default-x86_64" * 6


@given(jobs)
def test_a_long_alias_as_source_image_gives_way_and_the_tag_still_fits(job: Job):
    """AWS's own AL2023 alias (or a long parameter path) in the template's ImageId must not make the
    state unrecordable: the source image is left out, and everything a restore needs stays."""
    value = encode(replace(job, source_image=ALIAS))
    assert len(value) <= TAG_VALUE_LIMIT
    back = decode("web", value)
    assert back.source_image in (None, ALIAS)
    assert (back.original, back.we_suspended, back.was_suspended, back.instance_id) == (
        job.original, job.we_suspended, job.was_suspended, job.instance_id
    )  # fmt: skip
