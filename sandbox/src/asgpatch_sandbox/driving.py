"""Driving a deployed asgpatch stack on the sandbox as time would: move the clock to its window's start and
on, in steps, until the one execution the window started has ended. For `make demo` and the tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from asgpatch_sandbox.process import SandboxProcess


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
    one execution has ended; it, described. The clock stands still while a tick is in flight: a Lambda
    takes seconds of real time, and a clock racing on meanwhile (slow on a loaded machine) would pass
    the window's end after a handful of ticks, which no real window sees."""
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
        if not (found and _tick_in_flight(sandbox, found[0]["executionArn"])):
            sandbox.advance(step)
        time.sleep(0.3)


IN_FLIGHT = frozenset({"TaskScheduled", "TaskStarted", "LambdaFunctionScheduled", "LambdaFunctionStarted"})


def _tick_in_flight(sandbox: SandboxProcess, execution_arn: str) -> bool:
    newest = sandbox.client("stepfunctions").get_execution_history(
        executionArn=execution_arn, maxResults=1, reverseOrder=True)["events"]  # fmt: skip
    return bool(newest) and newest[0]["type"] in IN_FLIGHT


def history(sandbox: SandboxProcess, execution_arn: str) -> list[dict[str, Any]]:
    client = sandbox.client("stepfunctions")
    answer = client.get_execution_history(executionArn=execution_arn, maxResults=1000)
    events = list(answer["events"])
    while answer.get("nextToken"):
        answer = client.get_execution_history(executionArn=execution_arn, maxResults=1000,
                                              nextToken=answer["nextToken"])  # fmt: skip
        events += answer["events"]
    return events
