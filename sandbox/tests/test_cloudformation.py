"""CloudFormation as a deploy command sees it: a stack shaped like asgpatch's deployed form (window,
targetless Step Functions task, topic with subscriptions and policy, key, bucket, function, rule, roles,
logs) created through a change set, its failures and rollbacks, its change sets, and its window running."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

NO_CHANGES = "The submitted information didn't contain changes. Submit different information to create a change set."
TOO_LONG = (
    "Properties validation failed for resource MaintenanceWindow with message: "
    "[#/Duration: failed validation constraint for keyword [maximum]]"
)
PASS_SUCCEED = {"StartAt": "P", "States": {"P": {"Type": "Pass", "Next": "S"}, "S": {"Type": "Succeed"}}}


def ref(name: str) -> dict[str, str]:
    return {"Ref": name}


def arn_of(name: str) -> dict[str, list[str]]:
    return {"Fn::GetAtt": [name, "Arn"]}


def trust(service: str) -> dict[str, Any]:
    statement = {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
    return {"Version": "2012-10-17", "Statement": [statement]}


def role(service: str) -> dict[str, Any]:
    return {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": trust(service)}}


def deployed_form(window: dict[str, Any] | None = None, **resources: Any) -> dict[str, Any]:
    """asgpatch's stack in miniature; `window` overrides the window's properties, `resources` add or drop."""
    body: dict[str, Any] = {
        "TopicKey": {"Type": "AWS::KMS::Key", "Properties": {"KeyPolicy": {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "kms:*", "Resource": "*"}]}}},
        "Topic": {"Type": "AWS::SNS::Topic", "Properties": {"KmsMasterKeyId": ref("TopicKey")}},
        "Queue": {"Type": "AWS::SQS::Queue"},
        "QueueSubscription": {"Type": "AWS::SNS::Subscription", "Properties": {
            "TopicArn": ref("Topic"), "Protocol": "sqs", "Endpoint": arn_of("Queue"), "RawMessageDelivery": True}},
        "EmailSubscription": {"Type": "AWS::SNS::Subscription", "Condition": "HasEmail", "Properties": {
            "TopicArn": ref("Topic"), "Protocol": "email", "Endpoint": ref("NotificationEmail")}},
        "TopicPolicy": {"Type": "AWS::SNS::TopicPolicy", "Properties": {"Topics": [ref("Topic")], "PolicyDocument": {
            "Version": "2012-10-17", "Statement": [{"Sid": "TheRulePublishes", "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"}, "Action": "sns:Publish", "Resource": ref("Topic")}]}}},
        "RunBucket": {"Type": "AWS::S3::Bucket"},
        "RunBucketPolicy": {"Type": "AWS::S3::BucketPolicy", "Properties": {"Bucket": ref("RunBucket"),
            "PolicyDocument": {"Version": "2012-10-17", "Statement": [{"Sid": "OnlyOverTls", "Effect": "Deny",
            "Principal": "*", "Action": "s3:*", "Resource": {"Fn::Sub": "${RunBucket.Arn}/*"},
            "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}}},
        "Logs": {"Type": "AWS::Logs::LogGroup", "Properties": {"RetentionInDays": 90}},
        "FunctionRole": role("lambda.amazonaws.com"),
        "Function": {"Type": "AWS::Lambda::Function", "Properties": {
            "Runtime": "python3.12", "Handler": "index.handler", "Role": arn_of("FunctionRole"),
            "Code": {"ZipFile": "def handler(event, context):\n    return {'done': True}\n"}}},
        "MachineRole": role("states.amazonaws.com"),
        "StateMachine": {"Type": "AWS::StepFunctions::StateMachine", "Properties": {
            "RoleArn": arn_of("MachineRole"), "DefinitionString": json.dumps(PASS_SUCCEED)}},
        "FailureRule": {"Type": "AWS::Events::Rule", "Properties": {
            "EventPattern": {"source": ["aws.states"], "detail": {"stateMachineArn": [ref("StateMachine")]}},
            "Targets": [{"Id": "Topic", "Arn": ref("Topic")}]}},
        "WindowRole": role("ssm.amazonaws.com"),
        "MaintenanceWindow": {"Type": "AWS::SSM::MaintenanceWindow", "Properties": {
            "Name": {"Fn::Sub": "Maintenance_Window-${Env}"}, "Schedule": ref("Schedule"),
            "ScheduleTimezone": "UTC", "Duration": ref("Duration"), "Cutoff": ref("Cutoff"),
            "AllowUnassociatedTargets": False, **(window or {})}},
        "WindowTask": {"Type": "AWS::SSM::MaintenanceWindowTask", "Properties": {
            "WindowId": ref("MaintenanceWindow"), "TaskType": "STEP_FUNCTIONS", "TaskArn": ref("StateMachine"),
            "ServiceRoleArn": arn_of("WindowRole"), "Priority": 1, "TaskInvocationParameters": {
                "MaintenanceWindowStepFunctionsParameters": {
                    "Input": {"Fn::Sub": '{"window_id": "${MaintenanceWindow}", "env": "${Env}"}'}}}}},
    }  # fmt: skip
    for name, resource in resources.items():
        if resource is None:
            body.pop(name)
        else:
            body[name] = resource
    return {
        "Parameters": {
            "Env": {"Type": "String", "Default": "test"},
            "Schedule": {"Type": "String", "Default": "cron(0 4 ? * WED#2 *)"},
            "Duration": {"Type": "Number", "Default": 2},
            "Cutoff": {"Type": "Number", "Default": 1},
            "NotificationEmail": {"Type": "String", "Default": ""},
        },
        "Conditions": {"HasEmail": {"Fn::Not": [{"Fn::Equals": [ref("NotificationEmail"), ""]}]}},
        "Resources": body,
        "Outputs": {
            "WindowId": {"Value": ref("MaintenanceWindow")},
            "TaskId": {"Value": ref("WindowTask")},
            "StateMachineArn": {"Value": ref("StateMachine")},
            "TopicArn": {"Value": ref("Topic")},
            "QueueUrl": {"Value": ref("Queue")},
            "SubscriptionArn": {"Value": ref("QueueSubscription")},
        },
    }


def parameters(**values: str) -> list[dict[str, str]]:
    return [{"ParameterKey": key, "ParameterValue": value} for key, value in values.items()]


@pytest.fixture
def cfn(sandbox):
    return sandbox.client("cloudformation")


def create_through_change_set(cfn, name: str, template: dict[str, Any], **values: str) -> dict[str, Any]:
    made = cfn.create_change_set(StackName=name, ChangeSetName="create", ChangeSetType="CREATE",
                                 TemplateBody=json.dumps(template), Parameters=parameters(**values))  # fmt: skip
    assert cfn.describe_change_set(ChangeSetName=made["Id"])["Status"] == "CREATE_COMPLETE"
    cfn.execute_change_set(ChangeSetName=made["Id"])
    return stack(cfn, name)


def stack(cfn, name: str) -> dict[str, Any]:
    described: dict[str, Any] = cfn.describe_stacks(StackName=name)["Stacks"][0]
    return described


def outputs(described: dict[str, Any]) -> dict[str, str]:
    return {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}


def events(cfn, name: str) -> list[tuple[str, str, str]]:
    """(logical id, status, reason), oldest first."""
    listed = cfn.describe_stack_events(StackName=name)["StackEvents"][::-1]
    return [(e["LogicalResourceId"], e["ResourceStatus"], e.get("ResourceStatusReason", "")) for e in listed]


def test_a_change_set_creates_the_whole_stack_with_outputs_and_resource_events(cfn, ssm, uid):
    name = f"deploy-{uid}"
    described = create_through_change_set(cfn, name, deployed_form(), Env=uid, NotificationEmail="ops@example.com")
    assert described["StackStatus"] == "CREATE_COMPLETE"
    found = outputs(described)
    assert re.fullmatch(r"mw-[0-9a-f]{17}", found["WindowId"])
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", found["TaskId"])
    assert found["SubscriptionArn"].startswith(found["TopicArn"] + ":")
    window = ssm.get_maintenance_window(WindowId=found["WindowId"])
    assert (window["Name"], window["Schedule"], window["Duration"], window["Cutoff"]) == (
        f"Maintenance_Window-{uid}", "cron(0 4 ? * WED#2 *)", 2, 1)  # fmt: skip
    assert window["AllowUnassociatedTargets"] is False and "NextExecutionTime" in window
    [task] = ssm.describe_maintenance_window_tasks(WindowId=found["WindowId"])["Tasks"]
    assert (task["WindowTaskId"], task["Type"], task["TaskArn"], task["Targets"]) == (
        found["TaskId"], "STEP_FUNCTIONS", found["StateMachineArn"], [])  # fmt: skip
    got = ssm.get_maintenance_window_task(WindowId=found["WindowId"], WindowTaskId=found["TaskId"])
    payload = json.loads(got["TaskInvocationParameters"]["StepFunctions"]["Input"])
    assert payload == {"window_id": found["WindowId"], "env": uid}
    completed = {logical for logical, status, _ in events(cfn, name) if status == "CREATE_COMPLETE"}
    assert {"MaintenanceWindow", "WindowTask", "QueueSubscription", "EmailSubscription", "TopicPolicy"} <= completed
    assert events(cfn, name)[-1] == (name, "CREATE_COMPLETE", "")


def test_the_stacks_queue_receives_what_its_topic_publishes_and_email_waits_for_confirmation(sandbox, cfn, uid):
    found = outputs(create_through_change_set(cfn, f"sns-{uid}", deployed_form(), Env=uid,
                                              NotificationEmail="ops@example.com"))  # fmt: skip
    sns, sqs = sandbox.client("sns"), sandbox.client("sqs")
    sns.publish(TopicArn=found["TopicArn"], Message="a patch run failed")
    received = sqs.receive_message(QueueUrl=found["QueueUrl"], WaitTimeSeconds=0)["Messages"]
    assert [m["Body"] for m in received] == ["a patch run failed"]  # RawMessageDelivery: true
    by_protocol = {s["Protocol"]: s["SubscriptionArn"] for s in
                   sns.list_subscriptions_by_topic(TopicArn=found["TopicArn"])["Subscriptions"]}  # fmt: skip
    pending = sns.get_subscription_attributes(SubscriptionArn=by_protocol["email"])["Attributes"]
    assert pending["PendingConfirmation"] == "true" and pending["Endpoint"] == "ops@example.com"
    confirmed = sns.get_subscription_attributes(SubscriptionArn=found["SubscriptionArn"])["Attributes"]
    assert confirmed["PendingConfirmation"] == "false" and confirmed["RawMessageDelivery"] == "true"


def test_topic_and_bucket_policies_are_set_and_go_with_their_resources(sandbox, cfn, uid):
    name = f"policy-{uid}"
    found = outputs(create_through_change_set(cfn, name, deployed_form(), Env=uid))
    sns, s3 = sandbox.client("sns"), sandbox.client("s3")
    policy = json.loads(sns.get_topic_attributes(TopicArn=found["TopicArn"])["Attributes"]["Policy"])
    assert [s["Sid"] for s in policy["Statement"]] == ["TheRulePublishes"]
    bucket = next(r["PhysicalResourceId"] for r in cfn.describe_stack_resources(StackName=name)["StackResources"]
                  if r["LogicalResourceId"] == "RunBucket")  # fmt: skip
    assert json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"][0]["Sid"] == "OnlyOverTls"
    cfn.update_stack(StackName=name, TemplateBody=json.dumps(deployed_form(TopicPolicy=None, RunBucketPolicy=None)),
                     Parameters=parameters(Env=uid))  # fmt: skip
    assert stack(cfn, name)["StackStatus"] == "UPDATE_COMPLETE"
    policy = json.loads(sns.get_topic_attributes(TopicArn=found["TopicArn"])["Attributes"]["Policy"])
    assert "TheRulePublishes" not in [s.get("Sid") for s in policy["Statement"]]  # the topic's default again
    with pytest.raises(ClientError):
        s3.get_bucket_policy(Bucket=bucket)
    assert ("TopicPolicy", "DELETE_COMPLETE", "") in events(cfn, name)


def test_an_identical_change_set_fails_as_on_aws_and_cannot_be_executed(cfn, uid):
    name, template = f"same-{uid}", deployed_form()
    create_through_change_set(cfn, name, template, Env=uid)
    again = cfn.create_change_set(StackName=name, ChangeSetName="again", TemplateBody=json.dumps(template),
                                  Parameters=[{"ParameterKey": "Env", "UsePreviousValue": True}])  # fmt: skip
    described = cfn.describe_change_set(ChangeSetName=again["Id"])
    assert (described["Status"], described["ExecutionStatus"], described["StatusReason"]) == (
        "FAILED", "UNAVAILABLE", NO_CHANGES)  # fmt: skip
    assert described["Changes"] == []
    with pytest.raises(ClientError) as refused:
        cfn.execute_change_set(ChangeSetName=again["Id"])
    assert refused.value.response["Error"]["Code"] == "InvalidChangeSetStatus"
    assert "cannot be executed in its current execution status of [UNAVAILABLE]" in str(refused.value)
    assert stack(cfn, name)["StackStatus"] == "CREATE_COMPLETE"


def test_a_parameter_only_change_set_lists_what_it_modifies_and_applies(cfn, ssm, uid):
    name, template = f"params-{uid}", deployed_form()
    found = outputs(create_through_change_set(cfn, name, template, Env=uid))
    change = cfn.create_change_set(StackName=name, ChangeSetName="longer", TemplateBody=json.dumps(template),
                                   Parameters=[{"ParameterKey": "Env", "UsePreviousValue": True},
                                               {"ParameterKey": "Duration", "ParameterValue": "4"}])  # fmt: skip
    described = cfn.describe_change_set(ChangeSetName=change["Id"])
    assert described["Status"] == "CREATE_COMPLETE"
    modified = {c["ResourceChange"]["LogicalResourceId"]: c["ResourceChange"] for c in described["Changes"]}
    assert set(modified) == {"MaintenanceWindow"}
    assert modified["MaintenanceWindow"]["Action"] == "Modify"
    assert modified["MaintenanceWindow"]["PhysicalResourceId"] == found["WindowId"]
    cfn.execute_change_set(ChangeSetName=change["Id"])
    updated = stack(cfn, name)
    assert updated["StackStatus"] == "UPDATE_COMPLETE" and outputs(updated) == found
    assert ssm.get_maintenance_window(WindowId=found["WindowId"])["Duration"] == 4
    renamed = cfn.create_change_set(StackName=name, ChangeSetName="renamed", TemplateBody=json.dumps(template),
                                    Parameters=parameters(Env=f"{uid}b", Duration="4"))  # fmt: skip
    changes = cfn.describe_change_set(ChangeSetName=renamed["Id"])["Changes"]
    assert {c["ResourceChange"]["LogicalResourceId"] for c in changes} == {"MaintenanceWindow", "WindowTask"}  # Fn::Sub
    cfn.execute_change_set(ChangeSetName=renamed["Id"])
    got = ssm.get_maintenance_window_task(WindowId=found["WindowId"], WindowTaskId=found["TaskId"])
    assert json.loads(got["TaskInvocationParameters"]["StepFunctions"]["Input"])["env"] == f"{uid}b"
    assert ssm.get_maintenance_window(WindowId=found["WindowId"])["Name"] == f"Maintenance_Window-{uid}b"


def test_a_bad_duration_fails_the_stack_with_the_resources_reason_and_rolls_it_back(sandbox, cfn, ssm, uid):
    name = f"bad-{uid}"
    cfn.create_stack(
        StackName=name, TemplateBody=json.dumps(deployed_form()), Parameters=parameters(Env=uid, Duration="30")
    )
    described = stack(cfn, name)
    assert described["StackStatus"] == "ROLLBACK_COMPLETE"
    assert described["StackStatusReason"] == (
        "The following resource(s) failed to create: [MaintenanceWindow]. Rollback requested by user.")  # fmt: skip
    failed = [(logical, reason) for logical, status, reason in events(cfn, name) if status == "CREATE_FAILED"]
    assert failed == [("MaintenanceWindow", TOO_LONG)]
    statuses = [status for logical, status, _ in events(cfn, name) if logical == name]
    assert statuses[-2:] == ["ROLLBACK_IN_PROGRESS", "ROLLBACK_COMPLETE"]
    assert ("StateMachine", "DELETE_COMPLETE", "") in events(cfn, name)  # what had been created is gone
    assert cfn.describe_stack_resources(StackName=name)["StackResources"] == []
    machines = sandbox.client("stepfunctions").list_state_machines()["stateMachines"]
    assert not [m for m in machines if m["name"].startswith(f"{name}-")]
    windows = ssm.describe_maintenance_windows(Filters=[{"Key": "Name", "Values": [f"Maintenance_Window-{uid}"]}])
    assert windows["WindowIdentities"] == []


@pytest.mark.parametrize(
    ("window", "task", "reason"),
    [
        ({"Cutoff": 2}, {}, "Cuttoff was 2 but must be smaller than 1 (Duration - 1 ) (Service: Ssm, Status Code: 400"),
        ({"Name": "has spaces"}, {}, "Member must satisfy regular expression pattern: ^[a-zA-Z0-9_\\-.]{3,128}$"),
        ({"Schedule": "cron(0 4 * * * *)"}, {}, "Invalid schedule: cron(0 4 * * * *)"),
        ({}, {"MaxConcurrency": "1", "MaxErrors": "1"}, "MaxConcurrency and MaxErrors can't be specified"),
    ],
)
def test_the_services_own_refusal_fails_the_resource_through_a_change_set(cfn, uid, window, task, reason):
    name, template = f"refused-{uid}", deployed_form(window)
    template["Resources"]["WindowTask"]["Properties"].update(task)
    made = cfn.create_change_set(StackName=name, ChangeSetName="create", ChangeSetType="CREATE",
                                 TemplateBody=json.dumps(template), Parameters=parameters(Env=uid))  # fmt: skip
    cfn.execute_change_set(ChangeSetName=made["Id"])
    assert stack(cfn, name)["StackStatus"] == "ROLLBACK_COMPLETE"
    assert cfn.describe_change_set(ChangeSetName=made["Id"])["ExecutionStatus"] == "EXECUTE_FAILED"
    [(logical, message)] = [(lg, r) for lg, status, r in events(cfn, name) if status == "CREATE_FAILED"]
    assert logical == ("WindowTask" if task else "MaintenanceWindow")
    assert message.startswith('Resource handler returned message: "') and reason in message
    assert "HandlerErrorCode: InvalidRequest" in message


def test_a_failed_update_rolls_back_to_the_previous_window(cfn, ssm, uid):
    name, template = f"rollback-{uid}", deployed_form()
    found = outputs(create_through_change_set(cfn, name, template, Env=uid))
    cfn.update_stack(StackName=name, TemplateBody=json.dumps(template), Parameters=parameters(Env=uid, Duration="30"))
    described = stack(cfn, name)
    assert described["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    assert described["StackStatusReason"] == "The following resource(s) failed to update: [MaintenanceWindow]."
    assert ("MaintenanceWindow", "UPDATE_FAILED", TOO_LONG) in events(cfn, name)
    assert ssm.get_maintenance_window(WindowId=found["WindowId"])["Duration"] == 2
    assert outputs(described) == found


def test_deleting_the_stack_removes_its_window_task_and_subscriptions(sandbox, cfn, ssm, uid):
    name = f"gone-{uid}"
    found = outputs(create_through_change_set(cfn, name, deployed_form(), Env=uid, NotificationEmail="a@example.com"))
    stack_id = stack(cfn, name)["StackId"]
    cfn.delete_stack(StackName=name)
    deleted = events(cfn, stack_id)
    assert ("MaintenanceWindow", "DELETE_COMPLETE", "") in deleted and deleted[-1] == (name, "DELETE_COMPLETE", "")
    with pytest.raises(ClientError, match="DoesNotExistException"):
        ssm.get_maintenance_window(WindowId=found["WindowId"])
    arns = [s["SubscriptionArn"] for s in sandbox.client("sns").list_subscriptions()["Subscriptions"]]
    assert found["SubscriptionArn"] not in arns


def test_the_stacks_window_runs_its_state_machine_when_it_is_due(sandbox, cfn, ssm, uid):
    start = datetime.fromtimestamp(sandbox.now(), UTC).replace(second=0, microsecond=0) + timedelta(hours=1)
    schedule = f"cron({start.minute} {start.hour} * * ? *)"
    found = outputs(create_through_change_set(cfn, f"runs-{uid}", deployed_form(), Env=uid, Schedule=schedule))
    sfn = sandbox.client("stepfunctions")
    sandbox.advance(1800)
    assert ssm.describe_maintenance_window_executions(WindowId=found["WindowId"])["WindowExecutions"] == []
    assert sfn.list_executions(stateMachineArn=found["StateMachineArn"])["executions"] == []
    sandbox.advance(1800)
    [run] = ssm.describe_maintenance_window_executions(WindowId=found["WindowId"])["WindowExecutions"]
    assert run["StartTime"].timestamp() == start.timestamp()
    [execution] = sfn.list_executions(stateMachineArn=found["StateMachineArn"])["executions"]
    given = json.loads(sfn.describe_execution(executionArn=execution["executionArn"])["input"])
    assert given == {"window_id": found["WindowId"], "env": uid}


def test_a_change_set_takes_parameters_as_aws_does(cfn, ssm, uid):
    name, template = f"defaults-{uid}", deployed_form()
    template["Parameters"]["Env"].pop("Default")
    with pytest.raises(ClientError, match="Env"):  # no value and no default: refused at once, as on AWS
        cfn.create_change_set(StackName=name, ChangeSetName="create", ChangeSetType="CREATE",
                              TemplateBody=json.dumps(template))  # fmt: skip
    found = outputs(create_through_change_set(cfn, name, template, Env=uid, Duration="3"))
    omitted = cfn.create_change_set(StackName=name, ChangeSetName="omitted", TemplateBody=json.dumps(template),
                                    Parameters=[{"ParameterKey": "Env", "UsePreviousValue": True}])  # fmt: skip
    changes = cfn.describe_change_set(ChangeSetName=omitted["Id"])["Changes"]
    assert [c["ResourceChange"]["LogicalResourceId"] for c in changes] == ["MaintenanceWindow"]
    cfn.execute_change_set(ChangeSetName=omitted["Id"])
    assert ssm.get_maintenance_window(WindowId=found["WindowId"])["Duration"] == 2  # a parameter left out: its default


def test_executing_a_change_set_removes_the_stacks_change_sets_and_listing_is_per_stack(cfn, uid):
    name, other = f"listed-{uid}", f"listed-other-{uid}"
    create_through_change_set(cfn, name, deployed_form(), Env=uid)
    body = json.dumps(deployed_form())
    pending = cfn.create_change_set(StackName=other, ChangeSetName="pending", ChangeSetType="CREATE",
                                    TemplateBody=body, Parameters=parameters(Env=f"{uid}o"))  # fmt: skip
    assert cfn.list_change_sets(StackName=name)["Summaries"] == [], "AWS removes them once one is executed"
    assert [s["ChangeSetName"] for s in cfn.list_change_sets(StackName=other)["Summaries"]] == ["pending"]
    cfn.delete_change_set(ChangeSetName=pending["Id"])
