"""Step Functions executions run on the sandbox clock: Wait, Choice, Pass, Task (real Lambda handlers),
Retry, Catch, timeouts and StopExecution, as boto3 sees them. Tests move the clock instead of sleeping;
they wait on the wall clock only while a Lambda handler really runs."""

from __future__ import annotations

import io
import json
import math
import time
import zipfile
from datetime import UTC
from typing import Any

import pytest
from botocore.exceptions import ClientError

ROLE = "arn:aws:iam::123456789012:role/states"
IN_FLIGHT = {"TaskScheduled", "TaskStarted", "LambdaFunctionScheduled", "LambdaFunctionStarted"}

TICK = """
def handler(event, context):
    n = int(event.get("round", 0)) + 1
    return {"done": n >= 3, "wait_seconds": 60, "round": n}
"""
ECHO = """
def handler(event, context):
    return {"restored": True, "saw": event}
"""
BROKEN = """
def handler(event, context):
    raise ValueError("no such group: " + str(event.get("group")))
"""
SLOW = """
import time
def handler(event, context):
    time.sleep(float(event.get("sleep", 3)))
    return {"slept": True}
"""


@pytest.fixture
def sfn(sandbox: Any) -> Any:
    return sandbox.client("stepfunctions")


@pytest.fixture(scope="module")
def lambda_role(sandbox: Any) -> str:
    trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}  # fmt: skip
    iam = sandbox.client("iam")
    try:
        return str(
            iam.create_role(RoleName="sfn-tests-lambda", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
        )
    except ClientError:
        return str(iam.get_role(RoleName="sfn-tests-lambda")["Role"]["Arn"])


def function(sandbox: Any, role: str, name: str, source: str, timeout: int = 10) -> str:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", source)
    created = sandbox.client("lambda").create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=role,
        Handler="handler.handler",
        Code={"ZipFile": buffer.getvalue()},
        Timeout=timeout,
    )
    return str(created["FunctionArn"])


def machine(sfn: Any, name: str, definition: dict[str, Any]) -> str:
    return str(sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=ROLE)["stateMachineArn"])


def start(sfn: Any, arn: str, data: Any = None, **extra: Any) -> str:
    return str(sfn.start_execution(stateMachineArn=arn, input=json.dumps(data or {}), **extra)["executionArn"])


def history(sfn: Any, arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    token: dict[str, str] = {}
    while True:
        page = sfn.get_execution_history(executionArn=arn, maxResults=1000, **token)
        events += page["events"]
        if not page.get("nextToken"):
            return events
        token = {"nextToken": page["nextToken"]}


def types(sfn: Any, arn: str) -> list[str]:
    return [event["type"] for event in history(sfn, arn)]


def settled(sfn: Any, arn: str, timeout: float = 30.0) -> dict[str, Any]:
    """The execution once no Lambda call is in flight: over, or waiting on the sandbox clock. Only a
    running handler is waited for on the wall clock."""
    deadline = time.monotonic() + timeout
    while True:
        last = sfn.get_execution_history(executionArn=arn, reverseOrder=True, maxResults=1)["events"][0]["type"]
        if last not in IN_FLIGHT:  # then only the clock moves it on
            described: dict[str, Any] = sfn.describe_execution(executionArn=arn)
            return described
        assert time.monotonic() < deadline, f"a Lambda call of {arn} never came back"
        time.sleep(0.05)


def test_a_wait_lasts_its_seconds_on_the_sandbox_clock(sandbox, sfn, uid):
    arn = machine(sfn, f"wait-{uid}", {"StartAt": "Note", "States": {
        "Note": {"Type": "Pass", "Result": {"noted": True}, "ResultPath": "$.note", "Next": "Hour"},
        "Hour": {"Type": "Wait", "Seconds": 3600, "Next": "Done"},
        "Done": {"Type": "Succeed"}}})  # fmt: skip
    execution = start(sfn, arn, {"group": "web"})
    assert sfn.describe_execution(executionArn=execution)["status"] == "RUNNING"
    sandbox.advance(3599)
    assert sfn.describe_execution(executionArn=execution)["status"] == "RUNNING"
    sandbox.advance(1)
    described = sfn.describe_execution(executionArn=execution)
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"]) == {"group": "web", "note": {"noted": True}}
    assert (described["stopDate"] - described["startDate"]).total_seconds() == pytest.approx(3600, abs=0.01)
    assert types(sfn, execution) == [
        "ExecutionStarted", "PassStateEntered", "PassStateExited", "WaitStateEntered", "WaitStateExited",
        "SucceedStateEntered", "SucceedStateExited", "ExecutionSucceeded",
    ]  # fmt: skip


def test_choice_seconds_path_and_intrinsics_loop_until_done(sandbox, sfn, uid):
    arn = machine(sfn, f"loop-{uid}", {"StartAt": "More?", "States": {
        "More?": {"Type": "Choice", "Default": "Done", "Choices": [
            {"And": [{"Variable": "$.n", "NumericLessThan": 3}, {"Not": {"Variable": "$.stop", "IsPresent": True}}],
             "Next": "Sleep"}]},
        "Sleep": {"Type": "Wait", "SecondsPath": "$.wait", "Next": "Count"},
        "Count": {"Type": "Pass", "Parameters": {"n.$": "States.MathAdd($.n, 1)", "wait.$": "$.wait",
                                                 "said.$": "States.Format('round {}', $.n)"}, "Next": "More?"},
        "Done": {"Type": "Pass", "OutputPath": "$.said", "End": True}}})  # fmt: skip
    execution = start(sfn, arn, {"n": 0, "wait": 60})
    for _ in range(2):
        sandbox.advance(60)
        assert sfn.describe_execution(executionArn=execution)["status"] == "RUNNING"
    sandbox.advance(60)
    described = sfn.describe_execution(executionArn=execution)
    assert (described["status"], json.loads(described["output"])) == ("SUCCEEDED", "round 2")
    assert types(sfn, execution).count("WaitStateExited") == 3


def test_the_context_object_and_a_timestamp_wait(sandbox, sfn, uid):
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(math.ceil(sandbox.now()) + 600))
    arn = machine(sfn, f"context-{uid}", {"StartAt": "Look", "States": {
        "Look": {"Type": "Pass", "Next": "Until", "Parameters": {
            "id.$": "$$.Execution.Id", "name.$": "$$.Execution.Name", "started.$": "$$.Execution.StartTime",
            "input.$": "$$.Execution.Input", "entered.$": "$$.State.EnteredTime", "until.$": "$.until"}},
        "Until": {"Type": "Wait", "TimestampPath": "$.until", "End": True}}})  # fmt: skip
    execution = start(sfn, arn, {"until": stamp}, name=f"named-{uid}")
    sandbox.advance(599)
    assert sfn.describe_execution(executionArn=execution)["status"] == "RUNNING"
    sandbox.advance(2)
    described = sfn.describe_execution(executionArn=execution)
    output = json.loads(described["output"])
    assert described["status"] == "SUCCEEDED"
    assert output["id"] == execution and output["name"] == f"named-{uid}"
    assert output["input"] == {"until": stamp} and output["started"].endswith("Z")
    assert output["started"][:19] == described["startDate"].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def test_fail_and_a_missing_path_fail_the_execution(sandbox, sfn, uid):
    failing = machine(sfn, f"fail-{uid}", {"StartAt": "No", "States": {
        "No": {"Type": "Fail", "Error": "Patch.Refused", "Cause": "the window is closed"}}})  # fmt: skip
    execution = start(sfn, failing)
    described = sfn.describe_execution(executionArn=execution)
    assert (described["status"], described["error"], described["cause"]) == (
        "FAILED", "Patch.Refused", "the window is closed")  # fmt: skip
    assert "output" not in described and described["stopDate"] >= described["startDate"]
    bad_path = machine(sfn, f"badpath-{uid}", {"StartAt": "W", "States": {
        "W": {"Type": "Wait", "SecondsPath": "$.nowhere", "End": True}}})  # fmt: skip
    described = sfn.describe_execution(executionArn=start(sfn, bad_path))
    assert (described["status"], described["error"]) == ("FAILED", "States.Runtime")


def test_the_state_machine_timeout_times_the_execution_out(sandbox, sfn, uid):
    arn = machine(sfn, f"timeout-{uid}", {"TimeoutSeconds": 300, "StartAt": "Long", "States": {
        "Long": {"Type": "Wait", "Seconds": 3600, "End": True}}})  # fmt: skip
    execution = start(sfn, arn)
    sandbox.advance(299)
    assert sfn.describe_execution(executionArn=execution)["status"] == "RUNNING"
    sandbox.advance(3600)
    described = sfn.describe_execution(executionArn=execution)
    assert (described["status"], described["error"]) == ("TIMED_OUT", "States.Timeout")
    assert (described["stopDate"] - described["startDate"]).total_seconds() == pytest.approx(300, abs=0.01)
    assert types(sfn, execution)[-2:] == ["WaitStateAborted", "ExecutionTimedOut"]
    listed = sfn.list_executions(stateMachineArn=arn, statusFilter="TIMED_OUT")["executions"]
    assert [e["executionArn"] for e in listed] == [execution] and "stopDate" in listed[0]


def test_stop_execution_aborts_with_its_error_and_cause(sandbox, sfn, uid):
    arn = machine(sfn, f"stop-{uid}", {"StartAt": "Long", "States": {
        "Long": {"Type": "Wait", "Seconds": 3600, "End": True}}})  # fmt: skip
    execution = start(sfn, arn)
    sandbox.advance(10)
    stopped = sfn.stop_execution(executionArn=execution, error="Operator.Stop", cause="maintenance cancelled")
    described = sfn.describe_execution(executionArn=execution)
    assert (described["status"], described["error"], described["cause"]) == (
        "ABORTED", "Operator.Stop", "maintenance cancelled")  # fmt: skip
    assert described["stopDate"] == stopped["stopDate"]
    assert types(sfn, execution)[-2:] == ["WaitStateAborted", "ExecutionAborted"]
    sandbox.advance(3600)
    assert sfn.describe_execution(executionArn=execution)["status"] == "ABORTED"


def test_names_ids_and_listing(sandbox, sfn, uid):
    arn = machine(sfn, f"names-{uid}", {"StartAt": "Long", "States": {
        "Long": {"Type": "Wait", "Seconds": 3600, "End": True}}})  # fmt: skip
    unnamed = start(sfn, arn)
    assert len(unnamed.rsplit(":", 1)[1]) == 36  # a UUID, not "None"
    named = start(sfn, arn, {"a": 1}, name=f"run-{uid}")
    assert start(sfn, arn, {"a": 1}, name=f"run-{uid}") == named  # same input, still running: the same one
    with pytest.raises(ClientError) as refused:
        start(sfn, arn, {"a": 2}, name=f"run-{uid}")
    assert refused.value.response["Error"]["Code"] == "ExecutionAlreadyExists"
    sfn.stop_execution(executionArn=named)
    with pytest.raises(ClientError) as again:
        start(sfn, arn, {"a": 1}, name=f"run-{uid}")  # a STANDARD name is never reused
    assert again.value.response["Error"]["Code"] == "ExecutionAlreadyExists"
    running = sfn.list_executions(stateMachineArn=arn, statusFilter="RUNNING")["executions"]
    assert [e["executionArn"] for e in running] == [unnamed]
    with pytest.raises(ClientError) as missing:
        sfn.describe_execution(executionArn=unnamed.rsplit(":", 1)[0] + ":nobody")
    assert missing.value.response["Error"]["Code"] == "ExecutionDoesNotExist"


def test_history_pages_and_stops_at_25000_events(sandbox, sfn, uid):
    arn = machine(sfn, f"forever-{uid}", {"StartAt": "Again", "States": {
        "Again": {"Type": "Pass", "Next": "Again"}}})  # fmt: skip
    execution = start(sfn, arn)
    described = sfn.describe_execution(executionArn=execution)
    assert (described["status"], described["cause"]) == (
        "FAILED", "The execution reached the maximum number of history events (25000).")  # fmt: skip
    newest = sfn.get_execution_history(executionArn=execution, reverseOrder=True, maxResults=2)
    assert [e["id"] for e in newest["events"]] == [25000, 24999]
    assert newest["events"][0]["type"] == "ExecutionFailed" and newest["nextToken"]
    following = sfn.get_execution_history(executionArn=execution, reverseOrder=True, maxResults=2,
                                          nextToken=newest["nextToken"])  # fmt: skip
    assert [e["id"] for e in following["events"]] == [24998, 24997]


def test_a_lambda_tick_loop_runs_to_done(sandbox, sfn, uid, lambda_role):
    """The deployed shape: Tick (lambda:invoke) → Done? → Wait(SecondsPath) → Tick; the handler says
    {"done": false, "wait_seconds": 60} twice, then done."""
    tick = function(sandbox, lambda_role, f"tick-{uid}", TICK)
    arn = machine(sfn, f"ticks-{uid}", {"StartAt": "Tick", "States": {
        "Tick": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Next": "Done?",
                 "Parameters": {"FunctionName": tick, "Payload.$": "$"},
                 "ResultSelector": {"round.$": "$.Payload.round", "done.$": "$.Payload.done",
                                    "wait_seconds.$": "$.Payload.wait_seconds", "status.$": "$.StatusCode"}},
        "Done?": {"Type": "Choice", "Default": "Sleep",
                  "Choices": [{"Variable": "$.done", "BooleanEquals": True, "Next": "Finished"}]},
        "Sleep": {"Type": "Wait", "SecondsPath": "$.wait_seconds", "Next": "Tick"},
        "Finished": {"Type": "Succeed"}}})  # fmt: skip
    execution = start(sfn, arn)
    for _ in range(2):
        assert settled(sfn, execution)["status"] == "RUNNING"
        assert types(sfn, execution)[-1] == "WaitStateEntered"
        sandbox.advance(60)
    described = settled(sfn, execution)
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"]) == {"round": 3, "done": True, "wait_seconds": 60, "status": 200}
    seen = types(sfn, execution)
    assert seen.count("TaskSucceeded") == 3 and seen.count("WaitStateExited") == 2
    assert len(seen) == 1 + 9 + 9 + 7 + 2 + 1  # start, 9 events a round (7 in the last: no Wait), Succeed, end


def test_retry_intervals_are_on_the_clock_and_catch_restores(sandbox, sfn, uid, lambda_role):
    broken = function(sandbox, lambda_role, f"broken-{uid}", BROKEN)
    restore = function(sandbox, lambda_role, f"restore-{uid}", ECHO)
    arn = machine(sfn, f"restore-{uid}", {"StartAt": "Tick", "States": {
        "Tick": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Next": "Ok",
                 "Parameters": {"FunctionName": broken, "Payload.$": "$"},
                 "Retry": [{"ErrorEquals": ["Lambda.TooManyRequestsException"], "MaxAttempts": 5},
                           {"ErrorEquals": ["States.TaskFailed"], "IntervalSeconds": 30, "MaxAttempts": 2,
                            "BackoffRate": 2.0}],
                 "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Restore"}]},
        "Restore": {"Type": "Task", "Resource": restore, "Next": "Failed"},
        "Failed": {"Type": "Fail", "Error": "Patch.Failed", "Cause": "restored after the tick failed"},
        "Ok": {"Type": "Succeed"}}})  # fmt: skip
    execution = start(sfn, arn, {"group": "web"})

    def scheduled() -> int:
        return types(sfn, execution).count("TaskScheduled")

    settled(sfn, execution)
    assert scheduled() == 1
    sandbox.advance(29)
    assert settled(sfn, execution)["status"] == "RUNNING" and scheduled() == 1
    sandbox.advance(1)
    settled(sfn, execution)
    assert scheduled() == 2
    sandbox.advance(59)
    assert settled(sfn, execution)["status"] == "RUNNING" and scheduled() == 2
    sandbox.advance(1)
    described = settled(sfn, execution)  # the third failure is caught: Restore runs, then Failed
    assert (described["status"], described["error"]) == ("FAILED", "Patch.Failed")
    events = history(sfn, execution)
    failures = [e["taskFailedEventDetails"] for e in events if e["type"] == "TaskFailed"]
    assert len(failures) == 3 and {f["error"] for f in failures} == {"ValueError"}
    assert json.loads(failures[0]["cause"])["errorMessage"] == "no such group: web"
    restored = next(e for e in events if e["type"] == "LambdaFunctionSucceeded")["lambdaFunctionSucceededEventDetails"]
    saw = json.loads(restored["output"])["saw"]
    assert saw["group"] == "web" and saw["error"]["Error"] == "ValueError"
    assert json.loads(saw["error"]["Cause"])["errorType"] == "ValueError"


def test_task_timeouts_and_lambda_errors_as_step_functions_names_them(sandbox, sfn, uid, lambda_role):
    slow = function(sandbox, lambda_role, f"slow-{uid}", SLOW, timeout=1)
    cases = {
        "timedout": {"Type": "Task", "Resource": slow, "Parameters": {"sleep": 3}, "End": True},
        "missing": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": True,
                    "Parameters": {"FunctionName": f"nothing-{uid}"}},
    }  # fmt: skip
    outcomes = {}
    for case, state in cases.items():
        arn = machine(sfn, f"{case}-{uid}", {"StartAt": "Call", "States": {"Call": state}})
        outcomes[case] = settled(sfn, start(sfn, arn))
    assert (outcomes["timedout"]["status"], outcomes["timedout"]["error"]) == ("FAILED", "Sandbox.Timedout")
    assert json.loads(outcomes["timedout"]["cause"])["errorType"] == "Sandbox.Timedout"
    assert (outcomes["missing"]["status"], outcomes["missing"]["error"]) == (
        "FAILED", "Lambda.ResourceNotFoundException")  # fmt: skip
    # TimeoutSeconds is on the sandbox clock: the handler is still sleeping when the clock passes it
    sleepy = function(sandbox, lambda_role, f"sleepy-{uid}", SLOW, timeout=30)
    arn = machine(sfn, f"tasktimeout-{uid}", {"StartAt": "Call", "States": {"Call": {
        "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "TimeoutSeconds": 60, "End": True,
        "Parameters": {"FunctionName": sleepy, "Payload": {"sleep": 5}}}}})  # fmt: skip
    execution = start(sfn, arn)
    assert "TaskStarted" in types(sfn, execution)
    sandbox.advance(61)
    described = sfn.describe_execution(executionArn=execution)
    assert (described["status"], described["error"]) == ("FAILED", "States.Timeout")
    assert "TaskTimedOut" in types(sfn, execution)


def test_a_state_machine_from_cloudformation_runs(sandbox, sfn, uid):
    definition = {"StartAt": "Hold", "States": {
        "Hold": {"Type": "Wait", "Seconds": 120, "Next": "Done"}, "Done": {"Type": "Succeed"}}}  # fmt: skip
    template = {"Resources": {"Machine": {"Type": "AWS::StepFunctions::StateMachine", "Properties": {
        "StateMachineName": f"cfn-{uid}", "RoleArn": ROLE, "DefinitionString": json.dumps(definition)}}},
        "Outputs": {"Arn": {"Value": {"Ref": "Machine"}}}}  # fmt: skip
    cloudformation = sandbox.client("cloudformation")
    cloudformation.create_stack(StackName=f"cfn-{uid}", TemplateBody=json.dumps(template))
    stack = cloudformation.describe_stacks(StackName=f"cfn-{uid}")["Stacks"][0]
    arn = next(o["OutputValue"] for o in stack["Outputs"] if o["OutputKey"] == "Arn")
    execution = start(sfn, arn)
    assert sfn.describe_execution(executionArn=execution)["status"] == "RUNNING"
    sandbox.advance(120)
    assert sfn.describe_execution(executionArn=execution)["status"] == "SUCCEEDED"


def test_a_broken_definition_is_refused_when_created(sfn, uid):
    broken = {
        "not json": "{",
        "missing target": json.dumps({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Typo"}}}),
        "unreachable": json.dumps({"StartAt": "A", "States": {"A": {"Type": "Succeed"}, "B": {"Type": "Succeed"}}}),
        "no end": json.dumps({"StartAt": "A", "States": {"A": {"Type": "Pass"}}}),
    }
    for case, definition in broken.items():
        with pytest.raises(ClientError) as refused:
            sfn.create_state_machine(name=f"broken-{uid}", definition=definition, roleArn=ROLE)
        assert refused.value.response["Error"]["Code"] == "InvalidDefinition", case
    arn = machine(sfn, f"fixed-{uid}", {"StartAt": "A", "States": {"A": {"Type": "Succeed"}}})
    with pytest.raises(ClientError) as refused:
        sfn.update_state_machine(stateMachineArn=arn, definition=broken["missing target"])
    assert "MISSING_TRANSITION_TARGET" in refused.value.response["Error"]["Message"]
