"""`asgpatch tick --state`: a run that lives outside the process. Every tick is a fresh CLI process that
loads the run's state (a file, or an S3 object on the sandbox), acts once and saves it; the run ends as
the one-process `run` leaves it — also with ticks killed mid-action and ticks started two at a time."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from asgpatch.run_state import SCHEMA
from asgpatch_sandbox.builders import base_image, describe_group, group, launch_template
from asgpatch_sandbox.process import SandboxProcess
from tests.integration.cli import tags_of
from tests.schemas import assert_matches_schema

TICK = ("--poll-seconds", "0.5", "--output", "json")
GOES_ON = 75


def tick(sandbox: SandboxProcess, state: str, *args: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    command = [sys.executable, "-m", "asgpatch", "tick", "--state", state, *TICK, *args]
    return subprocess.run(command, capture_output=True, text=True, env=sandbox.environment(**(env or {})),
                          timeout=120, check=False)  # fmt: skip


def tick_until_over(sandbox: SandboxProcess, state: str, *args: str, pairs: bool = False) -> dict[str, Any]:
    """Tick in fresh processes until the run is over (two at once when `pairs`); every tick's exit code."""
    codes: list[int] = []
    last: list[Any] = []
    deadline = time.monotonic() + 150
    while True:
        assert time.monotonic() < deadline, f"the run never ended: {codes[-5:]}, last: {last}"
        if pairs:
            with ThreadPoolExecutor(2) as both:
                results = list(both.map(lambda _: tick(sandbox, state, *args), range(2)))
        else:
            results = [tick(sandbox, state, *args)]
        last = [(r.returncode, r.stdout[-600:], r.stderr[-300:]) for r in results]
        for result in results:
            assert "Traceback" not in result.stderr, result.stderr
            codes.append(result.returncode)
        over = [r for r in results if r.returncode != GOES_ON]
        if over:
            document = json.loads(over[0].stdout)
            assert_matches_schema(document, "tick")
            assert document["done"] is True and document["wait_seconds"] == 0
            return {"codes": codes, "document": document, "results": results}
        document = json.loads(next(r.stdout for r in results if r.stdout))
        assert_matches_schema(document, "tick")
        assert document["done"] is False
        statuses = {g["status"] for g in document["groups"]}
        assert statuses <= {"in-progress", "patched", "failed", "skipped"}, statuses
        time.sleep(document["wait_seconds"])


def own_images(sandbox: SandboxProcess, name: str) -> list[dict[str, Any]]:
    answer = sandbox.client("ec2").describe_images(Owners=["self"], Filters=[{"Name": "tag:asgpatch:group",
                                                                            "Values": [name]}])  # fmt: skip
    return list(answer["Images"])


def assert_patched_once(sandbox: SandboxProcess, name: str, entry: dict[str, Any]) -> None:
    assert entry["status"] == "patched", entry
    found = describe_group(sandbox.client("autoscaling"), name)
    assert (found["MinSize"], found["MaxSize"], found["DesiredCapacity"]) == (0, 2, 0)
    assert found["SuspendedProcesses"] == [] and found["Instances"] == []
    assert "asgpatch:state" not in tags_of(found) and "asgpatch:lease" not in tags_of(found)
    images = own_images(sandbox, name)
    assert [i["ImageId"] for i in images] == [entry["image_id"]], "one image, the one reported"
    versions = sandbox.client("ec2").describe_launch_template_versions(LaunchTemplateId=entry["launch_template"]["id"])
    assert len(versions["LaunchTemplateVersions"]) == 2, "one new version"
    commands = sandbox.client("ssm").list_commands()["Commands"]
    assert Counter(c["Comment"].endswith(f" {name}") for c in commands)[True] == 1, "one patch command"


@pytest.fixture(scope="module")
def estate(quick: SandboxProcess) -> dict[str, str]:
    ec2, autoscaling = quick.client("ec2"), quick.client("autoscaling")
    image = base_image(ec2, "tick-base")
    names = {}
    for name, value in (("tick-file", "tick-file"), ("tick-pairs", "tick-pairs"), ("tick-killed", "tick-killed"),
                        ("tick-s3", "tick-s3"), ("tick-budget-a", "tick-budget"),
                        ("tick-budget-b", "tick-budget")):  # fmt: skip
        group(autoscaling, name, launch_template(ec2, name, image), tags={"ep:asg:patch": value})
        names[name] = value
    group(autoscaling, "tick-bystander", launch_template(ec2, "tick-bystander", image))
    quick.client("s3").create_bucket(Bucket="asgpatch-tick-runs")
    return names


def test_a_run_driven_tick_by_tick_from_a_file_ends_as_a_run_does(quick: SandboxProcess, estate, tmp_path: Path):
    state = str(tmp_path / "run.json")
    before = json.dumps(describe_group(quick.client("autoscaling"), "tick-bystander"), default=str)
    over = tick_until_over(quick, state, "--tag-value", "tick-file")
    assert over["codes"][:-1] == [GOES_ON] * (len(over["codes"]) - 1) and over["codes"][-1] == 0
    assert len(over["codes"]) >= 5, "a patch cycle takes several ticks"
    [entry] = over["document"]["groups"]
    assert_patched_once(quick, "tick-file", entry)
    stored = json.loads(Path(state).read_text())
    assert stored["schema"] == SCHEMA and stored["finished_at"] is not None
    again = tick(quick, state, "--tag-value", "tick-file")  # a tick after the run is over changes nothing
    assert again.returncode == 0 and json.loads(again.stdout)["groups"] == over["document"]["groups"]
    assert json.loads(Path(state).read_text()) == stored
    assert json.dumps(describe_group(quick.client("autoscaling"), "tick-bystander"), default=str) == before


def test_ticks_with_a_time_budget_too_small_for_one_group_still_finish_the_run(quick, estate, tmp_path: Path):
    """--time-budget is asked between groups: each tick moves one group, says it left the other for the
    next tick (wait_seconds 0: tick again at once), and the run ends with both groups patched once."""
    state = str(tmp_path / "run.json")
    over = tick_until_over(quick, state, "--tag-value", "tick-budget", "--time-budget", "0.001")
    assert over["codes"][-1] == 0
    entries = {entry["name"]: entry for entry in over["document"]["groups"]}
    for name in ("tick-budget-a", "tick-budget-b"):
        assert_patched_once(quick, name, entries[name])
    stored = json.loads(Path(state).read_text())
    assert stored["not_reached"] == [] and stored["ticks"] >= len(over["codes"])
    text = tick(quick, state, "--tag-value", "tick-budget", "--output", "text")
    assert text.returncode == 0, "a tick after the run is over exits as it ended"


def test_two_ticks_at_once_on_one_state_patch_each_group_once(quick: SandboxProcess, estate, tmp_path: Path):
    over = tick_until_over(quick, str(tmp_path / "run.json"), "--tag-value", "tick-pairs", pairs=True)
    assert set(over["codes"]) <= {0, GOES_ON}
    entry = next(g for g in over["document"]["groups"] if g["name"] == "tick-pairs")
    assert_patched_once(quick, "tick-pairs", entry)


def test_a_tick_killed_mid_action_is_taken_up_by_the_next(quick: SandboxProcess, estate, tmp_path: Path):
    state = str(tmp_path / "run.json")
    for crash in ("SetCapacity:1", "CreateImage:1", "UseTemplateVersion:1"):
        deadline = time.monotonic() + 60
        while True:  # tick until the tick that takes this action, which is killed right after it
            killed = tick(quick, state, "--tag-value", "tick-killed", env={"ASGPATCH_CRASH_AFTER": crash})
            if killed.returncode == -9:
                break
            assert killed.returncode == GOES_ON, killed.stderr
            assert time.monotonic() < deadline, f"never reached {crash}"
            time.sleep(0.5)
    over = tick_until_over(quick, state, "--tag-value", "tick-killed")
    [entry] = over["document"]["groups"]
    assert_patched_once(quick, "tick-killed", entry)


def test_a_run_kept_in_s3(quick: SandboxProcess, estate) -> None:
    location = "s3://asgpatch-tick-runs/runs/"
    over = tick_until_over(quick, location, "--tag-value", "tick-s3")
    [entry] = over["document"]["groups"]
    assert_patched_once(quick, "tick-s3", entry)
    stored = quick.client("s3").get_object(Bucket="asgpatch-tick-runs", Key="runs/run-state.json")["Body"].read()
    assert json.loads(stored)["run_id"] == over["document"]["run_id"]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda tmp: str(tmp), "cannot read the run state"),  # a directory
        (lambda tmp: (tmp / "bad.json").write_text("{not json") and str(tmp / "bad.json"), "not JSON"),
        (lambda tmp: (tmp / "new.json").write_text('{"schema": 9}') and str(tmp / "new.json"), "newer asgpatch"),
        (lambda tmp: "s3://Not_A_Bucket/x", "not a valid S3 bucket name"),
    ],
    ids=["directory", "not-json", "newer-schema", "bad-bucket"],
)
def test_a_bad_state_location_is_one_line_exit_two_and_changes_nothing(quick, estate, tmp_path, make, message):
    before = json.dumps(describe_group(quick.client("autoscaling"), "tick-bystander"), default=str)
    result = tick(quick, make(tmp_path), "--tag-value", "tick-bystander-none")
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and message in result.stderr and "Traceback" not in result.stderr
    assert json.dumps(describe_group(quick.client("autoscaling"), "tick-bystander"), default=str) == before


def test_a_run_kept_for_one_region_is_not_ticked_in_another(quick: SandboxProcess, estate, tmp_path: Path) -> None:
    state = str(tmp_path / "run.json")
    first = tick(quick, state, "--tag-value", "tick-nothing-tagged")
    assert first.returncode == 0, first.stderr  # nothing tagged: the run is over at once
    assert json.loads(Path(state).read_text())["shards"] == [["123456789012", "us-east-1"]]
    elsewhere = tick(quick, state, "--region", "eu-west-1")
    assert elsewhere.returncode == 2 and "covers us-east-1, not eu-west-1" in elsewhere.stderr
    more = tick(quick, state, "--region", "us-east-1", "--region", "eu-west-1")
    assert more.returncode == 2 and "covers us-east-1, not us-east-1, eu-west-1" in more.stderr
