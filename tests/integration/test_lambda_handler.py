"""The deployed form's Lambda handler, invoked as Step Functions would (in this process, against a
sandbox over HTTP): one tick per invocation through the run's S3 state until the run is over, the
report written beside the state in the schema of `run --output json`, a repeated invocation harmless,
and an invocation that finds another tick holding the run does nothing."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from asgpatch.lambda_handler import handler
from asgpatch_sandbox.builders import base_image, describe_group, group, launch_template
from asgpatch_sandbox.process import SandboxProcess
from tests.schemas import assert_matches_schema

BUCKET = "asgpatch-lambda-runs"
STATE = f"s3://{BUCKET}/runs/20261209-window/"


class Context:
    """What the handler reads of Lambda's context: the time the invocation has left."""

    def __init__(self, seconds: float) -> None:
        self.ends = time.monotonic() + seconds

    def get_remaining_time_in_millis(self) -> int:
        return int((self.ends - time.monotonic()) * 1000)


@pytest.fixture(scope="module")
def world(quick: SandboxProcess) -> dict[str, Any]:
    ec2, autoscaling = quick.client("ec2"), quick.client("autoscaling")
    image = base_image(ec2, "lambda-base")
    group(autoscaling, "lambda-web", launch_template(ec2, "lambda-web", image), tags={"ep:asg:patch": "lambda"})
    group(autoscaling, "lambda-bystander", launch_template(ec2, "lambda-bystander", image))
    quick.client("s3").create_bucket(Bucket=BUCKET)
    return {"bystander": describe_group(autoscaling, "lambda-bystander")}


@pytest.fixture
def account(quick: SandboxProcess, world: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The function's environment: the sandbox's endpoint and credentials, and the run's settings."""
    for key, value in quick.environment(ASGPATCH_TAG_VALUE="lambda", ASGPATCH_POLL_SECONDS="0.5").items():
        monkeypatch.setenv(key, value)
    return world


def invoke_until_done(event: dict[str, Any]) -> tuple[dict[str, Any], int]:
    for count in range(1, 300):
        output = handler(event, Context(120))
        if output["done"]:
            return output, count
        time.sleep(output["wait_seconds"])
    raise AssertionError("the run never ended")


def test_ticks_through_s3_until_the_run_is_over_and_the_report_is_written_beside_the_state(quick, account):
    output, invocations = invoke_until_done({"state": STATE})
    assert invocations >= 5, "a patch cycle takes several invocations"
    assert output["report"] == f"s3://{BUCKET}/runs/20261209-window/run-state.json.report.json"
    assert output["counts"] == {"patched": 1} and output["dropped"] is None
    body = quick.client("s3").get_object(Bucket=BUCKET, Key="runs/20261209-window/run-state.json.report.json")
    report = json.loads(body["Body"].read())
    assert_matches_schema(report, "report")
    (entry,) = report["groups"]
    assert (entry["name"], entry["status"], entry["region"]) == ("lambda-web", "patched", "us-east-1")
    found = describe_group(quick.client("autoscaling"), "lambda-web")
    assert (found["MinSize"], found["MaxSize"], found["DesiredCapacity"]) == (0, 2, 0)
    assert describe_group(quick.client("autoscaling"), "lambda-bystander") == account["bystander"]

    again = handler({"state": STATE}, Context(120))  # a retried invocation after the run is over
    assert (again["run_id"], again["done"], again["counts"]) == (output["run_id"], True, {"patched": 1})
    assert describe_group(quick.client("autoscaling"), "lambda-web") == found, "it changed nothing"


def test_an_invocation_that_finds_the_run_held_does_nothing(quick, account):
    state = f"s3://{BUCKET}/runs/held/run-state.json"
    lock = json.dumps({"holder": "another-invocation:1", "until": time.time() + 600})
    quick.client("s3").put_object(Bucket=BUCKET, Key="runs/held/run-state.json.tick", Body=lock.encode())
    output = handler({"state": state}, Context(120))
    assert output["run_id"] is None and output["done"] is False and "holds the run" in output["dropped"]
    listed = quick.client("s3").list_objects_v2(Bucket=BUCKET, Prefix="runs/held/")
    assert [o["Key"] for o in listed.get("Contents", [])] == ["runs/held/run-state.json.tick"], "no run started"


def test_a_bad_event_is_refused_before_anything_is_read(account):
    with pytest.raises(ValueError, match="s3://"):
        handler({"state": "/tmp/run.json"}, Context(120))
    with pytest.raises(ValueError, match="the event's deadline"):
        handler({"state": STATE, "deadline": "next wednesday"}, Context(120))
