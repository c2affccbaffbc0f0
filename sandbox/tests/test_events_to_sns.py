"""Step Functions status changes reach EventBridge rules, and rules deliver to SNS (an SQS queue subscribed
to the topic receives the event) and to Lambda; PutEvents goes the same way."""

from __future__ import annotations

import io
import json
import time
import zipfile
from typing import Any

import pytest
from botocore.exceptions import ClientError

ROLE = "arn:aws:iam::123456789012:role/states"
STATUS_CHANGE = "Step Functions Execution Status Change"


@pytest.fixture
def sfn(sandbox: Any) -> Any:
    return sandbox.client("stepfunctions")


@pytest.fixture
def events(sandbox: Any) -> Any:
    return sandbox.client("events")


def topic_with_queue(sandbox: Any, name: str) -> tuple[str, str]:
    """An SNS topic and the URL of an SQS queue subscribed to it."""
    sns, sqs = sandbox.client("sns"), sandbox.client("sqs")
    topic = sns.create_topic(Name=name)["TopicArn"]
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    queue = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue)
    return topic, url


def received(sandbox: Any, url: str, wait: float = 0.0) -> list[str]:
    """The SNS messages the queue holds (polling up to `wait` wall seconds for the first)."""
    sqs, deadline = sandbox.client("sqs"), time.monotonic() + wait
    messages: list[str] = []
    while True:
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        messages += [json.loads(m["Body"])["Message"] for m in batch]
        if (not batch and messages) or (not batch and time.monotonic() >= deadline):
            return messages
        if not batch:
            time.sleep(0.1)


def failure_rule(events: Any, name: str, machine_arn: str, topic: str, **target: Any) -> None:
    pattern = {"source": ["aws.states"], "detail-type": [STATUS_CHANGE],
               "detail": {"status": ["FAILED", "TIMED_OUT", "ABORTED"], "stateMachineArn": [machine_arn]}}  # fmt: skip
    events.put_rule(Name=name, EventPattern=json.dumps(pattern))
    events.put_targets(Rule=name, Targets=[{"Id": "alarm", "Arn": topic, **target}])


def machine(sfn: Any, name: str, states: dict[str, Any], **extra: Any) -> str:
    definition = {"StartAt": next(iter(states)), "States": states, **extra}
    return str(sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=ROLE)["stateMachineArn"])


def test_a_failed_execution_reaches_the_rules_topic(sandbox, sfn, events, uid):
    failing = machine(
        sfn,
        f"fails-{uid}",
        {
            "Hold": {"Type": "Wait", "Seconds": 60, "Next": "No"},
            "No": {"Type": "Fail", "Error": "Patch.Failed", "Cause": "group web"},
        },
    )
    passing = machine(sfn, f"passes-{uid}", {"Ok": {"Type": "Succeed"}})
    topic, url = topic_with_queue(sandbox, f"alarms-{uid}")
    failure_rule(events, f"alarm-{uid}", failing, topic)
    failure_rule(events, f"alarm-other-{uid}", passing, topic)
    execution = sfn.start_execution(stateMachineArn=failing, name=f"run-{uid}", input='{"group": "web"}')
    sfn.start_execution(stateMachineArn=passing, input="{}")
    assert received(sandbox, url) == []  # RUNNING and SUCCEEDED do not match the pattern
    sandbox.advance(60)
    messages = received(sandbox, url)
    assert len(messages) == 1
    event = json.loads(messages[0])
    assert (event["source"], event["detail-type"], event["region"]) == ("aws.states", STATUS_CHANGE, "us-east-1")
    assert event["resources"] == [execution["executionArn"]] and event["account"] == "123456789012"
    assert event["time"].endswith("Z") and len(event["time"]) == 20
    detail = event["detail"]
    assert {k: detail[k] for k in ("status", "error", "cause", "name", "stateMachineArn", "input", "output")} == {
        "status": "FAILED", "error": "Patch.Failed", "cause": "group web", "name": f"run-{uid}",
        "stateMachineArn": failing, "input": '{"group": "web"}', "output": None}  # fmt: skip
    described = sfn.describe_execution(executionArn=execution["executionArn"])
    assert detail["startDate"] == int(described["startDate"].timestamp() * 1000)
    assert detail["stopDate"] == int(described["stopDate"].timestamp() * 1000)
    assert detail["stopDate"] - detail["startDate"] == pytest.approx(60_000, abs=2)


def test_aborted_and_timed_out_executions_are_delivered(sandbox, sfn, events, uid):
    waits = machine(sfn, f"waits-{uid}", {"Hold": {"Type": "Wait", "Seconds": 3600, "End": True}}, TimeoutSeconds=600)
    topic, url = topic_with_queue(sandbox, f"stops-{uid}")
    failure_rule(events, f"stops-{uid}", waits, topic)
    stopped = sfn.start_execution(stateMachineArn=waits, input="{}")["executionArn"]
    timing_out = sfn.start_execution(stateMachineArn=waits, input="{}")["executionArn"]
    sfn.stop_execution(executionArn=stopped, error="Operator.Stop", cause="by hand")
    aborted = [json.loads(m)["detail"] for m in received(sandbox, url)]
    assert [(d["executionArn"], d["status"], d["error"], d["cause"]) for d in aborted] == [
        (stopped, "ABORTED", "Operator.Stop", "by hand")]  # fmt: skip
    sandbox.advance(600)
    timed_out = [json.loads(m)["detail"] for m in received(sandbox, url)]
    assert [(d["executionArn"], d["status"], d["error"]) for d in timed_out] == [
        (timing_out, "TIMED_OUT", "States.Timeout")]  # fmt: skip


def test_input_input_path_and_input_transformer_shape_what_is_sent(sandbox, sfn, events, uid):
    fails = machine(sfn, f"shaped-{uid}", {"No": {"Type": "Fail", "Error": "Patch.Failed", "Cause": "why"}})
    pattern = {"source": ["aws.states"], "detail": {"status": ["FAILED"], "stateMachineArn": [fails]}}
    events.put_rule(Name=f"shaped-{uid}", EventPattern=json.dumps(pattern))
    (constant, c_url), (path, p_url), (text, t_url), (doc, d_url) = (
        topic_with_queue(sandbox, f"{kind}-{uid}") for kind in ("constant", "path", "text", "doc"))  # fmt: skip
    paths = {"name": "$.detail.name", "error": "$.detail.error", "start": "$.detail.startDate"}
    events.put_targets(Rule=f"shaped-{uid}", Targets=[
        {"Id": "constant", "Arn": constant, "Input": '{"alarm": "patching"}'},
        {"Id": "path", "Arn": path, "InputPath": "$.detail.error"},
        {"Id": "text", "Arn": text, "InputTransformer": {
            "InputPathsMap": paths, "InputTemplate": '"Execution <name> failed: <error>"'}},
        {"Id": "doc", "Arn": doc, "InputTransformer": {
            "InputPathsMap": paths, "InputTemplate": '{"execution": <name>, "rule": "<aws.events.rule-name>", '
                                                     '"at": <start>}'}},
    ])  # fmt: skip
    execution = sfn.start_execution(stateMachineArn=fails, name=f"x-{uid}", input="{}")["executionArn"]
    sfn.describe_execution(executionArn=execution)  # the catch-up that runs it
    assert received(sandbox, c_url) == ['{"alarm": "patching"}']
    assert received(sandbox, p_url) == ['"Patch.Failed"']
    assert received(sandbox, t_url) == [f'"Execution x-{uid} failed: Patch.Failed"']
    document = json.loads(received(sandbox, d_url)[0])
    assert document["execution"] == f"x-{uid}" and document["rule"] == f"shaped-{uid}"
    assert isinstance(document["at"], int)


def test_put_events_reaches_sns_and_a_disabled_rule_delivers_nothing(sandbox, events, uid):
    topic, url = topic_with_queue(sandbox, f"custom-{uid}")
    pattern = {"source": [f"asgpatch.{uid}"], "detail": {"kind": [{"prefix": "patch"}]}}
    events.put_rule(Name=f"custom-{uid}", EventPattern=json.dumps(pattern))
    events.put_targets(Rule=f"custom-{uid}", Targets=[{"Id": "t", "Arn": topic}])
    entries = [{"Source": f"asgpatch.{uid}", "DetailType": "Run", "Detail": json.dumps({"kind": kind})}
               for kind in ("patched", "skipped")]  # fmt: skip
    assert events.put_events(Entries=entries)["FailedEntryCount"] == 0
    delivered = [json.loads(m) for m in received(sandbox, url)]
    assert [(e["detail-type"], e["detail"]) for e in delivered] == [("Run", {"kind": "patched"})]
    events.disable_rule(Name=f"custom-{uid}")
    events.put_events(Entries=entries[:1])
    assert received(sandbox, url) == []


def test_a_lambda_target_is_invoked_with_the_event(sandbox, sfn, events, uid):
    """The handler forwards what it got to a queue, through the sandbox (its AWS_ENDPOINT_URL)."""
    sqs, iam = sandbox.client("sqs"), sandbox.client("iam")
    url = sqs.create_queue(QueueName=f"forwarded-{uid}")["QueueUrl"]
    trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}  # fmt: skip
    role = iam.create_role(RoleName=f"forward-{uid}", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    source = (
        "import json, os, boto3\n"
        "def handler(event, context):\n"
        "    boto3.client('sqs').send_message(QueueUrl=os.environ['QUEUE'], MessageBody=json.dumps(event))\n"
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", source)
    function = sandbox.client("lambda").create_function(
        FunctionName=f"forward-{uid}", Runtime="python3.12", Role=role, Handler="handler.handler",
        Code={"ZipFile": buffer.getvalue()}, Timeout=30, Environment={"Variables": {"QUEUE": url}},
    )["FunctionArn"]  # fmt: skip
    fails = machine(sfn, f"tolambda-{uid}", {"No": {"Type": "Fail", "Error": "E"}})
    failure_rule(events, f"tolambda-{uid}", fails, function)
    execution = sfn.start_execution(stateMachineArn=fails, input="{}")["executionArn"]
    sfn.describe_execution(executionArn=execution)
    deadline, got = time.monotonic() + 30, []
    while not got and time.monotonic() < deadline:
        got = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages", [])
    assert got, "the Lambda target was never invoked"
    event = json.loads(got[0]["Body"])
    assert (event["detail"]["executionArn"], event["detail"]["status"]) == (execution, "FAILED")


def test_the_deployed_stack_from_cloudformation_alarms_on_failure(sandbox, sfn, uid):
    """State machine, topic and rule from one template (the rule names the machine by Ref); the Tick's
    function does not exist, so the Task fails past its Retry and the execution fails."""
    definition = {"StartAt": "Tick", "States": {
        "Tick": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": True,
                 "Parameters": {"FunctionName": f"missing-{uid}", "Payload.$": "$"},
                 "Retry": [{"ErrorEquals": ["Lambda.ResourceNotFoundException"], "IntervalSeconds": 10,
                            "MaxAttempts": 1}]}}}  # fmt: skip
    template = {"Resources": {
        "Machine": {"Type": "AWS::StepFunctions::StateMachine", "Properties": {
            "StateMachineName": f"deployed-{uid}", "RoleArn": ROLE, "DefinitionString": json.dumps(definition)}},
        "Alarms": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": f"deployed-{uid}"}},
        "OnFailure": {"Type": "AWS::Events::Rule", "Properties": {
            "EventPattern": {"source": ["aws.states"], "detail-type": [STATUS_CHANGE],
                             "detail": {"status": ["FAILED", "TIMED_OUT", "ABORTED"],
                                        "stateMachineArn": [{"Ref": "Machine"}]}},
            "Targets": [{"Id": "alarms", "Arn": {"Ref": "Alarms"}}]}}},
        "Outputs": {"Machine": {"Value": {"Ref": "Machine"}}, "Topic": {"Value": {"Ref": "Alarms"}}}}  # fmt: skip
    cloudformation = sandbox.client("cloudformation")
    cloudformation.create_stack(StackName=f"deployed-{uid}", TemplateBody=json.dumps(template))
    stack = cloudformation.describe_stacks(StackName=f"deployed-{uid}")["Stacks"][0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    sns, sqs = sandbox.client("sns"), sandbox.client("sqs")
    url = sqs.create_queue(QueueName=f"deployed-{uid}")["QueueUrl"]
    queue = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=outputs["Topic"], Protocol="sqs", Endpoint=queue)
    execution = sfn.start_execution(stateMachineArn=outputs["Machine"], input="{}")["executionArn"]
    deadline = time.monotonic() + 30
    while "TaskFailed" not in [e["type"] for e in sfn.get_execution_history(executionArn=execution)["events"]]:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert received(sandbox, url) == []  # the Retry is still to come, 10 sandbox seconds later
    sandbox.advance(10)
    deadline = time.monotonic() + 30
    while sfn.describe_execution(executionArn=execution)["status"] == "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    detail = json.loads(received(sandbox, url)[0])["detail"]
    assert (detail["executionArn"], detail["status"], detail["error"]) == (
        execution, "FAILED", "Lambda.ResourceNotFoundException")  # fmt: skip


def test_test_event_pattern_answers_with_the_rules_matcher(events):
    """The deployed rule's pattern can be checked before deploying it."""
    pattern = json.dumps({"source": ["aws.states"], "detail": {"status": ["FAILED", "TIMED_OUT", "ABORTED"]}})
    event = {"id": "1", "account": "123456789012", "source": "aws.states", "time": "2026-12-09T05:00:00Z",
             "region": "us-east-1", "resources": [], "detail-type": STATUS_CHANGE,
             "detail": {"status": "FAILED"}}  # fmt: skip
    assert events.test_event_pattern(EventPattern=pattern, Event=json.dumps(event))["Result"] is True
    event["detail"]["status"] = "SUCCEEDED"
    assert events.test_event_pattern(EventPattern=pattern, Event=json.dumps(event))["Result"] is False
    with pytest.raises(ClientError) as refused:
        events.test_event_pattern(EventPattern=pattern, Event='{"source": "aws.states"}')
    assert refused.value.response["Error"]["Code"] == "ValidationException"
