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


def _machine_event(execution: str, started: float, action: str = "tick", **more: Any) -> dict[str, Any]:
    """What the stack's state machine passes (stack/state_machine.py)."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(started))
    window = {"window_id": "mw-0123456789abcdef0", "duration_hours": 2, "cutoff_hours": 1}
    return {"action": action, "run": {"execution": execution, "started": stamp}, "window": window, **more}


@pytest.fixture
def topic(quick: SandboxProcess, account: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Any:
    """The stack's topic with a queue subscribed, and the run bucket the stack names."""
    sns, sqs = quick.client("sns"), quick.client("sqs")
    arn = sns.create_topic(Name="asgpatch-lambda")["TopicArn"]
    queue = sqs.create_queue(QueueName="asgpatch-lambda-inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queue_arn)
    monkeypatch.setenv("ASGPATCH_SNS_TOPIC_ARN", arn)
    monkeypatch.setenv("ASGPATCH_RUN_BUCKET", BUCKET)

    def received() -> list[dict[str, Any]]:
        found = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(m["Body"]) for m in found]

    return received


def test_a_run_given_up_mid_patch_puts_its_group_back_and_says_so(quick, topic):
    autoscaling = quick.client("autoscaling")
    before = describe_group(autoscaling, "lambda-web")
    event = _machine_event("window-give-up", time.time())
    for _ in range(60):  # tick until the group is scaled up for its patch instance
        output = handler(event, Context(120))
        assert not output["done"]
        if describe_group(autoscaling, "lambda-web")["DesiredCapacity"] == before["DesiredCapacity"] + 1:
            break
        time.sleep(output["wait_seconds"])
    else:
        raise AssertionError("the run never scaled the group up")
    error = {"Error": "Sandbox.Timedout", "Cause": '{"errorMessage": "Task timed out after 900.00 seconds"}'}
    restored = handler(_machine_event("window-give-up", time.time(), "restore", error=error), Context(120))
    assert restored["done"] is True
    found = describe_group(autoscaling, "lambda-web")
    assert (found["MinSize"], found["MaxSize"], found["DesiredCapacity"]) == (
        before["MinSize"], before["MaxSize"], before["DesiredCapacity"])  # fmt: skip
    assert found["SuspendedProcesses"] == [] and "asgpatch:state" not in {t["Key"] for t in found["Tags"]}
    assert restored["counts"] == {"skipped": 1}
    subjects = [m["Subject"] for m in topic()]
    assert any(s.startswith("asgpatch run failed: ") for s in subjects), subjects
    key = "runs/window-give-up.json.report.json"
    report = json.loads(quick.client("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read())
    assert "a tick failed after its retries (Sandbox.Timedout" in report["groups"][0]["reason"]
    again = handler(_machine_event("window-give-up", time.time()), Context(120))  # a Retry that slipped in
    assert again["done"] is True and describe_group(autoscaling, "lambda-web") == found


def test_an_aborted_execution_reported_by_eventbridge_restores_its_run(quick, topic):
    autoscaling = quick.client("autoscaling")
    before = describe_group(autoscaling, "lambda-web")
    started = time.time()
    for _ in range(10):  # the first ticks claim the group and record its state
        handler(_machine_event("window-aborted", started), Context(120))
        if "asgpatch:state" in {t["Key"] for t in describe_group(autoscaling, "lambda-web")["Tags"]}:
            break
    else:
        raise AssertionError("the run never took the group")
    execution = "arn:aws:states:us-east-1:123456789012:execution:asgpatch:window-aborted"
    change = {"version": "0", "source": "aws.states", "detail-type": "Step Functions Execution Status Change",
              "detail": {"name": "window-aborted", "status": "ABORTED", "startDate": int(started * 1000),
                         "executionArn": execution}}  # fmt: skip
    output = handler(change, Context(120))
    assert output["done"] is True
    found = describe_group(autoscaling, "lambda-web")
    assert found["DesiredCapacity"] == before["DesiredCapacity"] and found["SuspendedProcesses"] == []
    assert "asgpatch:state" not in {t["Key"] for t in found["Tags"]}
    assert any("its execution aborted" in m["Message"] for m in topic())


def test_a_window_that_has_ended_starts_no_group(quick, topic):
    autoscaling = quick.client("autoscaling")
    before = describe_group(autoscaling, "lambda-web")
    late = time.time() - 3 * 3600  # the window (2 h, cutoff 1 h) stopped starting groups 2 h ago
    output = handler(_machine_event("window-late", late), Context(120))
    for _ in range(20):
        if output["done"]:
            break
        output = handler(_machine_event("window-late", late), Context(120))
    assert output["done"] and output["counts"] == {"skipped": 1}
    assert describe_group(autoscaling, "lambda-web") == before, "nothing was touched"


def test_an_event_without_a_run_or_bucket_is_refused(account, monkeypatch):
    with pytest.raises(ValueError, match="ASGPATCH_RUN_BUCKET"):
        handler(_machine_event("no-bucket", time.time()), Context(120))
    monkeypatch.setenv("ASGPATCH_RUN_BUCKET", BUCKET)
    with pytest.raises(ValueError, match="execution name"):
        handler(_machine_event("../../etc", time.time()), Context(120))
    with pytest.raises(ValueError, match="tick or restore"):
        handler(_machine_event("x", time.time(), action="patch-everything"), Context(120))
