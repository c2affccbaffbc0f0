"""What `plan` says for each kind of group, and which groups a run takes on — from data, no AWS."""

from __future__ import annotations

from asgpatch import runner
from asgpatch.actions import WriteState
from asgpatch.clock import FakeClock
from asgpatch.cloud import Discovery
from asgpatch.config import RunConfig
from asgpatch.dry_run import plan_ticks
from asgpatch.model import (
    Capacity,
    GroupView,
    Job,
    Phase,
    Settings,
    TemplateRef,
    TemplateSpec,
    TemplateView,
)
from asgpatch.planning import take_in
from asgpatch.report import iso_utc
from asgpatch.seal import seal, verified
from asgpatch.state import encode, reason_value
from tests.fakes import FAKE_TEMPLATE, FakeCloud, FakeTemplate

NOW = 1_800_000_000.0
TRUST_ALL = lambda group: True  # noqa: E731 - these tests are about reading the tag, not its seal
TEMPLATE = TemplateView("lt-1", "web", default_version=2, latest_version=3, images={2: "ami-2", 3: "ami-3"})


def view(name: str = "web", tags: dict[str, str] | None = None, **changes: object) -> GroupView:
    base = GroupView(name, Capacity(0, 2, 0), tags if tags is not None else {"ep:asg:patch": "true"},
                     template=TemplateRef(TemplateSpec("lt-1", "$Default")))  # fmt: skip
    return GroupView(**{**base.__dict__, **changes})  # type: ignore[arg-type]


def _plan(cloud: FakeCloud, clock: FakeClock, **config: object) -> dict[str, dict[str, object]]:
    report = runner.plan(cloud, RunConfig(**config), "r1", clock)  # type: ignore[arg-type]
    return {entry["name"]: entry for entry in report["groups"]}


def test_plan_describes_the_steps_for_a_group_at_zero_and_lists_the_first_ticks_actions():
    clock = FakeClock(NOW)
    cloud = FakeCloud(clock)
    cloud.templates[FAKE_TEMPLATE] = FakeTemplate(FAKE_TEMPLATE, default=2, images={1: "ami-1", 2: "ami-2"})
    cloud.add_group("web", Capacity(0, 2, 0))
    entry = _plan(cloud, clock)["web"]
    assert (entry["status"], entry["launch_template"]["previous_version"]) == ("would-patch", 2)
    assert "0/2/0 -> 1/2/1" in entry["reason"] and "default version" in entry["reason"]
    assert entry["actions"] == [
        f"claim asgpatch:lease for run r1 until {iso_utc(NOW + Settings().lease_seconds)[11:]}",
        "record preparing in asgpatch:state",
        "suspend AZRebalance, AddToLoadBalancer, InstanceRefresh, ReplaceUnhealthy, ScheduledActions",
        "record launching in asgpatch:state",
        "set min/max/desired to 1/2/1",
    ]
    assert cloud.calls == [], "a plan changes nothing"


def test_plan_gives_decides_verdicts_for_launch_configurations_missing_templates_and_held_groups():
    clock = FakeClock(NOW)
    cloud = FakeCloud(clock)
    cloud.add_group("old", template_id=None)
    cloud.add_group("gone", template_id="lt-0123456789abcdef0")
    cloud.add_group("held", tags={"ep:asg:patch": "true", "asgpatch:lease": f"r0 {int(NOW) + 60}"})
    plan = _plan(cloud, clock)
    assert plan["old"]["status"] == "skipped" and "launch template" in plan["old"]["reason"]
    assert plan["gone"]["status"] == "would-fail" and "lt-0123456789abcdef0 not found" in plan["gone"]["reason"]
    assert plan["held"]["status"] == "skipped" and "left to run r0" in plan["held"]["reason"]
    assert plan["held"]["actions"] == [], "a group another run holds is not even claimed"
    assert cloud.calls == []


def _groups_of(action: object) -> tuple[str, ...]:
    if isinstance(action, WriteState):
        return (action.job.group,)
    return getattr(action, "groups", None) or (getattr(action, "group", ""),)


def test_a_plan_is_exactly_the_first_ticks_of_the_run_in_order_and_groups_beyond_concurrency_wait():
    clock = FakeClock(NOW)
    cloud = FakeCloud(clock)
    for number, name in enumerate(("a", "b", "c")):
        template = f"lt-0{number}23456789abcdef"  # a template each: groups sharing one share a bake
        cloud.templates[template] = FakeTemplate(template)
        cloud.add_group(name, Capacity(0, 2, 0) if name != "b" else Capacity(1, 3, 2), template_id=template)
    config = RunConfig(concurrency=2)
    started = runner.start(cloud, config, "r1", clock)
    planned = plan_ticks(runner.new_state(started, config), cloud, clock, runner.tick_state)
    assert planned.queued == {"c"} and cloud.calls == []
    state = runner.new_state(runner.start(cloud, config, "r1", clock), config)
    state = runner.tick_state(runner.tick_state(state, cloud, clock), cloud, clock)
    first_two = list(cloud.calls)
    assert list(planned.taken) == first_two[: len(planned.taken)], "the first tick takes what the plan shows"
    by_group = {name: [a for a in first_two if name in _groups_of(a)] for name in ("a", "b")}
    assert {name: list(planned.actions[name]) for name in ("a", "b")} == by_group
    # c waits for a place: the first tick does not touch it, and the plan says what its turn will bring
    assert not [a for a in first_two if "c" in _groups_of(a)]
    assert [type(a).__name__ for a in planned.actions["c"]][:2] == ["WriteLease", "WriteState"]


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
    assert "unreadable asgpatch:state tag" in salvaged.reason


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
