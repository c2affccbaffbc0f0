"""Driving the deployed form on the sandbox as time would: deploy the stack through the CLI, move only the
sandbox clock to the window's start, and let the window, Step Functions and the Lambda do the rest."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from asgpatch_sandbox.driving import executions, follow, history, open_window
from asgpatch_sandbox.process import SandboxProcess
from tests.integration.cli import cli

__all__ = ["deploy", "executions", "follow", "history", "open_window", "report_at", "subscribe_queue"]


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


def report_at(sandbox: SandboxProcess, location: str) -> dict[str, Any]:
    bucket, _, key = location.removeprefix("s3://").partition("/")
    report: dict[str, Any] = json.loads(sandbox.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())
    return report
