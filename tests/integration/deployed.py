"""Driving the deployed form on the sandbox as time would: deploy the stack through the CLI, move only the
sandbox clock to the window's start, and let the window, Step Functions and the Lambda do the rest."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from asgpatch_sandbox.process import SandboxProcess
from tests.integration.cli import cli


def deploy(sandbox: SandboxProcess, stack: str, *parameters: str) -> dict[str, str]:
    """The stack's outputs after `asgpatch deploy --parameter …` (exit 0 asserted)."""
    args = [item for parameter in parameters for item in ("--parameter", parameter)]
    result = cli(sandbox, "deploy", "--stack-name", stack, "--output", "json", *args)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    outputs: dict[str, str] = json.loads(result.stdout)["outputs"]
    return outputs


def subscribe_queue(sandbox: SandboxProcess, topic_arn: str, name: str) -> Callable[[], list[dict[str, Any]]]:
    """An SQS queue on the stack's topic; the function returned reads (and keeps) what has arrived."""
    sqs = sandbox.client("sqs")
    queue = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sandbox.client("sns").subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=arn)
    seen: list[dict[str, Any]] = []

    def received() -> list[dict[str, Any]]:
        while True:
            found = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
            if not found:
                return seen
            seen.extend(json.loads(m["Body"]) for m in found)
            sqs.delete_message_batch(QueueUrl=queue, Entries=[
                {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(found)])  # fmt: skip

    return received


def open_window(sandbox: SandboxProcess, window_id: str) -> float:
    """Move the sandbox clock just past the window's next start; that start (epoch seconds)."""
    found = sandbox.client("ssm").get_maintenance_window(WindowId=window_id)["NextExecutionTime"]
    due = datetime.fromisoformat(str(found).replace("Z", "+00:00")).timestamp()
    sandbox.advance(due - sandbox.now() + 1)
    return due


def executions(sandbox: SandboxProcess, machine: str) -> list[dict[str, Any]]:
    return list(sandbox.client("stepfunctions").list_executions(stateMachineArn=machine)["executions"])


def follow(sandbox: SandboxProcess, machine: str, step: float = 20.0, limit: float = 240.0,
           on_round: Callable[[], None] | None = None) -> dict[str, Any]:  # fmt: skip
    """Move the sandbox clock `step` seconds at a time (the state machine's waits pass) until the window's
    one execution has ended; it, described. Real time passes only for the Lambda's own work."""
    ends = time.monotonic() + limit
    while True:
        found = executions(sandbox, machine)
        assert len(found) <= 1, f"the window started {len(found)} executions"
        if found and found[0]["status"] != "RUNNING":
            described: dict[str, Any] = sandbox.client("stepfunctions").describe_execution(
                executionArn=found[0]["executionArn"])  # fmt: skip
            return described
        assert time.monotonic() < ends, f"the execution did not end in {limit:.0f} s: {found}"
        if on_round is not None:
            on_round()
        sandbox.advance(step)
        time.sleep(0.3)


def history(sandbox: SandboxProcess, execution_arn: str) -> list[dict[str, Any]]:
    client = sandbox.client("stepfunctions")
    answer = client.get_execution_history(executionArn=execution_arn, maxResults=1000)
    events = list(answer["events"])
    while answer.get("nextToken"):
        answer = client.get_execution_history(executionArn=execution_arn, maxResults=1000,
                                              nextToken=answer["nextToken"])  # fmt: skip
        events += answer["events"]
    return events


def report_at(sandbox: SandboxProcess, location: str) -> dict[str, Any]:
    bucket, _, key = location.removeprefix("s3://").partition("/")
    report: dict[str, Any] = json.loads(sandbox.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())
    return report
