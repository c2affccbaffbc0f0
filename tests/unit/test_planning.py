"""What `plan` says for each kind of group, and which groups a run takes on — from data, no AWS."""

from __future__ import annotations

from asgpatch.cloud import Discovery
from asgpatch.model import (
    Capacity,
    GroupView,
    Job,
    Observation,
    Phase,
    Settings,
    TemplateRef,
    TemplateSpec,
    TemplateView,
)
from asgpatch.planning import take_in, would
from asgpatch.seal import seal, verified
from asgpatch.state import encode, reason_value

NOW = 1_800_000_000.0
TRUST_ALL = lambda group: True  # noqa: E731 - these tests are about reading the tag, not its seal
TEMPLATE = TemplateView("lt-1", "web", default_version=2, latest_version=3, images={2: "ami-2", 3: "ami-3"})


def view(name: str = "web", tags: dict[str, str] | None = None, **changes: object) -> GroupView:
    base = GroupView(name, Capacity(0, 2, 0), tags if tags is not None else {"ep:asg:patch": "true"},
                     template=TemplateRef(TemplateSpec("lt-1", "$Default")))  # fmt: skip
    return GroupView(**{**base.__dict__, **changes})  # type: ignore[arg-type]


def test_plan_describes_the_steps_for_a_group_at_zero():
    status, reason, version = would(Job("web", "r1"), view(), Observation(NOW, view(), {"lt-1": TEMPLATE}), NOW)
    assert (status, version) == ("would-patch", 2)
    assert "0/2/0 -> 1/2/1" in reason and "default version" in reason


def test_plan_skips_launch_configurations_and_groups_held_by_a_live_run():
    assert would(Job("old", "r1"), view(template=None, launch_configuration="lc"), None, NOW)[0] == "skipped"
    held = view(tags={"ep:asg:patch": "true", "asgpatch:lease": f"r0 {int(NOW) + 60}"})
    status, reason, _ = would(Job("web", "r1"), held, None, NOW)
    assert status == "skipped" and "left to run r0" in reason


def test_a_run_takes_on_stopped_jobs_first_and_never_untagged_groups():
    stopped = view("b", tags={"ep:asg:patch": "true", "asgpatch:state": "1|r0|patching|0,2,0||BIRSZ|1||i-1|||||||"})
    discovery = Discovery(groups=(view("a"), stopped), untagged=(view("c", tags={"ep:asg:patch": "false"}),))
    intake = take_in(discovery, "r1", Settings(), trusts=TRUST_ALL)
    assert [(j.group, j.phase, j.run_id, j.owner) for j in intake.jobs] == [
        ("b", Phase.PATCHING, "r0", "r1"), ("a", Phase.PENDING, "r1", "r1")
    ]  # fmt: skip
    assert [(g.name, "ep:asg:patch=false" in reason) for g, reason in intake.skipped] == [("c", True)]


def test_a_newer_state_is_refused_and_a_corrupt_one_salvaged():
    newer = view("b", tags={"ep:asg:patch": "true", "asgpatch:state": "9|from-the-future"})
    corrupt = view("c", tags={"ep:asg:patch": "true", "asgpatch:state": "1|r0|patching|0,2,0|Z|QQ"})
    held = view("d", tags={"ep:asg:patch": "true", "asgpatch:state": "9|x", "asgpatch:lease": f"r7 {int(NOW) + 60}"})
    intake = take_in(Discovery(groups=(newer, corrupt, held)), "r1", Settings(), now=NOW, trusts=TRUST_ALL)
    assert [(g.name, "state format 9 is newer" in reason) for g, reason in intake.refused] == [("b", True)]
    assert [(g.name, "left to run r7" in reason) for g, reason in intake.skipped] == [("d", True)]
    (salvaged,) = intake.jobs
    assert (salvaged.group, salvaged.phase, salvaged.run_id, salvaged.original) == (
        "c", Phase.RESTORING, "r1", Capacity(0, 2, 0)
    )  # fmt: skip
    status, reason, _ = would(salvaged, corrupt, None, NOW)
    assert status == "would-restore" and "unreadable asgpatch:state tag" in reason


def test_a_state_tag_asgpatch_did_not_seal_is_refused_and_the_group_left_alone():
    key = b"k" * 32
    job = Job("web", "r0", Phase.PATCHING, 1.0, Capacity(0, 2, 0), instance_id="i-0123456789abcdef0")
    value, reason = encode(job), reason_value(job)
    genuine = {"ep:asg:patch": "true", "asgpatch:state": value, "asgpatch:seal": seal(key, "web", value, reason),
               "asgpatch:reason": reason}  # fmt: skip
    copied = view("api", tags=dict(genuine))  # the same tag, copied to another group
    forged = view("db", tags={"ep:asg:patch": "true", "asgpatch:state": value})
    discovery = Discovery(groups=(view("web", tags=genuine), copied, forged))
    intake = take_in(discovery, "r1", Settings(), now=NOW, trusts=lambda g: verified(key, g.name, g.tags))
    assert [(j.group, j.phase) for j in intake.jobs] == [("web", Phase.PATCHING)]
    reasons = dict((g.name, reason) for g, reason in intake.refused)
    assert sorted(reasons) == ["api", "db"]
    assert "does not match its asgpatch:seal" in reasons["api"] and "carries no asgpatch:seal" in reasons["db"]
    assert "asgpatch recover --asg db" in reasons["db"]
