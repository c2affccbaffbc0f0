"""`plan` is the run's own first ticks carried out by an executor that only displays: on an account
shaped as they are (a template shared by two groups, a running group, a group another run holds, more
groups than --concurrency, a bystander), what the plan lists is exactly what the run's first ticks do,
in order — and the plan itself sends no write."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest

from asgpatch import runner
from asgpatch.actions import Action, describe
from asgpatch.clock import FakeClock
from asgpatch.config import RunConfig
from asgpatch.decision import Decision
from asgpatch.dry_run import plan_ticks
from asgpatch.model import Settings
from asgpatch_sandbox.builders import base_image, describe_group, group, launch_template
from asgpatch_sandbox.process import SandboxProcess
from tests.integration.inprocess import capturing_cloud

RUN = "20261209T040000Z-9e9e"
CONFIG = RunConfig(concurrency=3, settings=Settings(tag_key="ep:asg:patch", tag_value="plan-ticks"))
READS = ("Describe", "Get", "List")


@pytest.fixture(scope="module")
def estate(sandbox: SandboxProcess) -> dict[str, Any]:
    ec2, autoscaling = sandbox.client("ec2"), sandbox.client("autoscaling")
    image = base_image(ec2, "plan-ticks-base")
    tags = {"ep:asg:patch": "plan-ticks"}
    group(autoscaling, "plan-1-zero", launch_template(ec2, "plan-1-zero", image), tags=tags)
    group(autoscaling, "plan-2-running", launch_template(ec2, "plan-2-running", image), min_size=1, max_size=3,
          desired=2, tags=tags)  # fmt: skip
    shared = launch_template(ec2, "plan-shared", image)
    for name in ("plan-3-shared-a", "plan-4-shared-b"):
        group(autoscaling, name, shared, tags=tags)
    group(autoscaling, "plan-5-queued", launch_template(ec2, "plan-5-queued", image), tags=tags)
    held = {**tags, "asgpatch:lease": f"20261209T030000Z-0a0a {int(sandbox.now()) + 3600}"}
    group(autoscaling, "plan-6-held", launch_template(ec2, "plan-6-held", image), tags=held)
    group(autoscaling, "plan-7-bystander", shared, tags={"team": "data"})
    sandbox.advance(120)  # the running group's instances are in service
    names = ["plan-1-zero", "plan-2-running", "plan-3-shared-a", "plan-4-shared-b", "plan-5-queued", "plan-6-held",
             "plan-7-bystander"]  # fmt: skip
    return {"names": names, "before": {name: describe_group(autoscaling, name) for name in names}}


def test_the_plan_lists_exactly_what_the_runs_first_ticks_do(sandbox: SandboxProcess, estate: dict[str, Any]):
    cloud, _, requests = capturing_cloud(sandbox)
    clock = FakeClock(sandbox.now())  # the plan and the run see one moment: lease expiries match to the second
    report = runner.plan(cloud, CONFIG, RUN, clock)
    planned = plan_ticks(runner.new_state(runner.start(cloud, CONFIG, RUN, clock), CONFIG), cloud, clock,
                         runner.tick_state)  # fmt: skip
    writes = [request[:2] for request in requests if not request[1].startswith(READS)]
    assert writes == [], "a plan sends no write"
    autoscaling = sandbox.client("autoscaling")
    assert {name: describe_group(autoscaling, name) for name in estate["names"]} == estate["before"]

    taken: list[Action] = []
    decided: dict[str, list[str]] = defaultdict(list)

    def record(group: str, decision: Decision) -> None:
        decided[group].extend(describe(action) for action in decision.actions)

    state = runner.new_state(runner.start(cloud, CONFIG, RUN, clock), CONFIG)
    first = runner.tick_state(state, cloud, clock, on_action=taken.append, on_decision=record)
    assert taken == list(planned.taken), "the first tick takes exactly the actions the plan shows, in order"
    runner.tick_state(first, cloud, clock, on_action=taken.append, on_decision=record)

    entries = {entry["name"]: entry for entry in report["groups"]}
    for name in ("plan-1-zero", "plan-2-running", "plan-3-shared-a", "plan-4-shared-b"):
        assert entries[name]["status"] == "would-patch"
        assert entries[name]["actions"] == decided[name], f"{name}: the plan's actions are the run's"
    assert [a for a in entries["plan-1-zero"]["actions"] if a.startswith("set ")] == ["set min/max/desired to 1/2/1"]
    assert [a for a in entries["plan-2-running"]["actions"] if a.startswith("set ")] == ["set min/max/desired to -/3/3"]
    assert "shares the bake of plan-3-shared-a" in entries["plan-4-shared-b"]["reason"]
    # groups beyond --concurrency (taken in name order): untouched by the first ticks, their turn described
    assert "plan-5-queued" not in decided and "--concurrency" in entries["plan-5-queued"]["reason"]
    assert entries["plan-5-queued"]["actions"][0].startswith(f"claim asgpatch:lease for run {RUN}")
    assert entries["plan-6-held"]["status"] == "skipped" and entries["plan-6-held"]["actions"] == []
    assert "plan-7-bystander" not in entries, "a group without the patch tag is not even considered"
    assert describe_group(autoscaling, "plan-7-bystander") == estate["before"]["plan-7-bystander"]
