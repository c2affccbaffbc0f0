"""The CloudFormation template of the deployed form, built as data and written as YAML.

Long-form intrinsics (`{"Ref": …}`, `{"Fn::Sub": …}`) keep it plain data: the same dict is dumped to
YAML for users, handed to cfn-lint and to the sandbox's CloudFormation, and read back by tests. The
Lambda's engine policy is asgpatch.aws.policy's, for the stack's tag and bucket: IAM condition keys
cannot be built with Fn::Sub inside a JSON object's keys, so that document is one Fn::Sub string.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from asgpatch.aws.policy import Names, policy
from asgpatch.config import KEYS_BY_NAME
from asgpatch.config_values import MAX_CONCURRENCY
from asgpatch.stack.parameters import PARAMETERS, RUNTIME
from asgpatch.stack.state_machine import definition

HANDLER = "asgpatch.lambda_handler.handler"
WINDOW_NAME = "Maintenance_Window-${AsgTagValue}"
FAILED_STATUSES = ["FAILED", "TIMED_OUT", "ABORTED"]
WINDOW_INPUT = '{"window_id": "${MaintenanceWindow}", "duration_hours": ${Duration}, "cutoff_hours": ${Cutoff}}'


def ref(name: str) -> dict[str, str]:
    return {"Ref": name}


def arn_of(resource: str) -> dict[str, list[str]]:
    return {"Fn::GetAtt": [resource, "Arn"]}


def sub(text: str, **values: Any) -> dict[str, Any]:
    return {"Fn::Sub": [text, values] if values else text}


def trust(service: str) -> dict[str, Any]:
    """A role only `service` may assume, and only for this account."""
    return {
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": service},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": ref("AWS::AccountId")}},
        }],
    }  # fmt: skip


def engine_policy() -> str:
    """The adapter's declared policy for this stack, as the text Fn::Sub fills in."""
    names = Names(
        tag_key="${AsgTagKey}", tag_value="${AsgTagValue}", account="${AWS::AccountId}", partition="${AWS::Partition}",
        region="${AWS::Region}", run_bucket="${RunBucket}", topic_arn="${Topic}", instance_roles="${InstanceRoles}",
    )  # fmt: skip
    return json.dumps(policy(names), indent=2)


def function_environment() -> dict[str, Any]:
    """The run's settings, as the CLI reads them from ASGPATCH_* (config.py)."""
    settings = (("tag_key", "AsgTagKey"), ("tag_value", "AsgTagValue"), ("concurrency", "Concurrency"),
                ("poll_seconds", "PollSeconds"))  # fmt: skip
    variables: dict[str, Any] = {KEYS_BY_NAME[key].env: ref(parameter) for key, parameter in settings}
    variables["ASGPATCH_SNS_TOPIC_ARN"] = ref("Topic")
    variables["ASGPATCH_RUN_BUCKET"] = ref("RunBucket")
    variables["ASGPATCH_WINDOW_HOURS"] = sub("${Duration}")
    variables["ASGPATCH_CUTOFF_HOURS"] = sub("${Cutoff}")
    return {"Variables": variables}


def _storage() -> dict[str, Any]:
    return {
        "RunBucket": {
            "Type": "AWS::S3::Bucket",
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": {
                "BucketEncryption": {"ServerSideEncryptionConfiguration": [
                    {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]},
                "PublicAccessBlockConfiguration": {"BlockPublicAcls": True, "BlockPublicPolicy": True,
                                                   "IgnorePublicAcls": True, "RestrictPublicBuckets": True},
                "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
                "LifecycleConfiguration": {"Rules": [{
                    "Id": "ExpireOldRuns", "Status": "Enabled", "Prefix": "runs/",
                    "ExpirationInDays": ref("RunRetentionDays"),
                }]},
            },
        },
        "RunBucketPolicy": {
            "Type": "AWS::S3::BucketPolicy",
            "Properties": {"Bucket": ref("RunBucket"), "PolicyDocument": {"Version": "2012-10-17", "Statement": [{
                "Sid": "OnlyOverTls", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
                "Resource": [arn_of("RunBucket"), sub("${RunBucket.Arn}/*")],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }]}},
        },
    }  # fmt: skip


def _notifications() -> dict[str, Any]:
    key_policy = {"Version": "2012-10-17", "Statement": [
        {"Sid": "TheAccountAdministersTheKey", "Effect": "Allow",
         "Principal": {"AWS": sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root")}, "Action": "kms:*",
         "Resource": "*"},
        {"Sid": "EventBridgePublishesToTheEncryptedTopic", "Effect": "Allow",
         "Principal": {"Service": "events.amazonaws.com"}, "Action": ["kms:GenerateDataKey*", "kms:Decrypt"],
         "Resource": "*", "Condition": {"StringEquals": {"aws:SourceAccount": ref("AWS::AccountId")}}},
    ]}  # fmt: skip
    return {
        "TopicKey": {
            "Type": "AWS::KMS::Key",
            "Properties": {
                "Description": sub("asgpatch ${AsgTagValue}: encrypts the notification topic"),
                "EnableKeyRotation": True,
                "KeyPolicy": key_policy,
            },
        },
        "Topic": {
            "Type": "AWS::SNS::Topic",
            "Properties": {"DisplayName": "asgpatch", "KmsMasterKeyId": ref("TopicKey")},
        },
        "TopicPolicy": {
            "Type": "AWS::SNS::TopicPolicy",
            "Properties": {
                "Topics": [ref("Topic")],
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "TheFailureRulePublishes",
                            "Effect": "Allow",
                            "Principal": {"Service": "events.amazonaws.com"},
                            "Action": "sns:Publish",
                            "Resource": ref("Topic"),
                            "Condition": {"ArnEquals": {"aws:SourceArn": arn_of("FailureRule")}},
                        }
                    ],
                },
            },
        },
        "EmailSubscription": {
            "Type": "AWS::SNS::Subscription",
            "Condition": "HasEmail",
            "Properties": {"TopicArn": ref("Topic"), "Protocol": "email", "Endpoint": ref("NotificationEmail")},
        },
        "FailureRule": {
            "Type": "AWS::Events::Rule",
            "Properties": {
                "Description": "A patch run that failed, timed out or was aborted: tell the topic, restore its groups",
                "EventPattern": {
                    "source": ["aws.states"],
                    "detail-type": ["Step Functions Execution Status Change"],
                    "detail": {"status": FAILED_STATUSES, "stateMachineArn": [ref("StateMachine")]},
                },
                "Targets": [
                    {
                        "Id": "Topic",
                        "Arn": ref("Topic"),
                        "InputTransformer": {
                            "InputPathsMap": {
                                "name": "$.detail.name",
                                "status": "$.detail.status",
                                "arn": "$.detail.executionArn",
                            },
                            "InputTemplate": '"asgpatch run <name> ended <status>; its groups are being restored. '
                            'Execution: <arn>"',
                        },
                    },
                    {"Id": "Restore", "Arn": arn_of("Function")},
                ],
            },
        },
        "FailureRuleInvokes": {
            "Type": "AWS::Lambda::Permission",
            "Properties": {
                "Action": "lambda:InvokeFunction",
                "FunctionName": ref("Function"),
                "Principal": "events.amazonaws.com",
                "SourceArn": arn_of("FailureRule"),
            },
        },
    }


def _function() -> dict[str, Any]:
    own_policies = {"Version": "2012-10-17", "Statement": [
        {"Sid": "OwnLogs", "Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
         "Resource": sub("${FunctionLogs.Arn}:*")},
        {"Sid": "PublishToTheEncryptedTopic", "Effect": "Allow", "Action": ["kms:GenerateDataKey*", "kms:Decrypt"],
         "Resource": arn_of("TopicKey")},
    ]}  # fmt: skip
    return {
        "FunctionLogs": {"Type": "AWS::Logs::LogGroup", "Properties": {"RetentionInDays": ref("LogRetentionDays")}},
        "FunctionRole": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "Description": "asgpatch's engine: the calls its adapter declares, for the stack's tag",
                "AssumeRolePolicyDocument": trust("lambda.amazonaws.com"),
                "Policies": [
                    {"PolicyName": "engine", "PolicyDocument": sub(engine_policy())},
                    {"PolicyName": "function", "PolicyDocument": own_policies},
                ],
            },
        },
        "Function": {
            "Type": "AWS::Lambda::Function",
            "Properties": {
                "Description": sub("asgpatch ${AsgTagValue}: one tick of the patch run per invocation"),
                "Runtime": RUNTIME,
                "Architectures": ["arm64"],
                "Handler": HANDLER,
                "Code": {"S3Bucket": ref("CodeS3Bucket"), "S3Key": ref("CodeS3Key")},
                "Role": arn_of("FunctionRole"),
                "Timeout": ref("TickSeconds"),
                "MemorySize": 512,
                "Environment": function_environment(),
                "LoggingConfig": {"LogGroup": ref("FunctionLogs"), "LogFormat": "Text"},
            },
        },
    }


def _orchestration() -> dict[str, Any]:
    machine_policy = {"Version": "2012-10-17", "Statement": [
        {"Sid": "InvokeTheEngine", "Effect": "Allow", "Action": "lambda:InvokeFunction",
         "Resource": [arn_of("Function"), sub("${Function.Arn}:*")]},
        {"Sid": "LogDelivery", "Effect": "Allow", "Resource": "*", "Action": [
            "logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery", "logs:DeleteLogDelivery",
            "logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies",
            "logs:DescribeLogGroups"]},
    ]}  # fmt: skip
    executions = sub("arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:execution:${StateMachine.Name}:*")
    window_policy = {"Version": "2012-10-17", "Statement": [
        {"Sid": "StartThePatchRun", "Effect": "Allow", "Action": "states:StartExecution",
         "Resource": ref("StateMachine")},
        {"Sid": "FollowIt", "Effect": "Allow", "Action": ["states:DescribeExecution", "states:StopExecution"],
         "Resource": executions},
    ]}  # fmt: skip
    return {
        "StateMachineLogs": {"Type": "AWS::Logs::LogGroup", "Properties": {"RetentionInDays": ref("LogRetentionDays")}},
        "StateMachineRole": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "AssumeRolePolicyDocument": trust("states.amazonaws.com"),
                "Policies": [{"PolicyName": "state-machine", "PolicyDocument": machine_policy}],
            },
        },
        "StateMachine": {
            "Type": "AWS::StepFunctions::StateMachine",
            "Properties": {
                "StateMachineType": "STANDARD",
                "DefinitionString": sub(json.dumps(definition(), indent=2)),
                "RoleArn": arn_of("StateMachineRole"),
                "LoggingConfiguration": {
                    "Level": "ERROR",
                    "IncludeExecutionData": False,
                    "Destinations": [{"CloudWatchLogsLogGroup": {"LogGroupArn": arn_of("StateMachineLogs")}}],
                },
            },
        },
        "WindowRole": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "AssumeRolePolicyDocument": trust("ssm.amazonaws.com"),
                "Policies": [{"PolicyName": "window", "PolicyDocument": window_policy}],
            },
        },
        "MaintenanceWindow": {
            "Type": "AWS::SSM::MaintenanceWindow",
            "Properties": {
                "Name": sub(WINDOW_NAME),
                "Description": sub("asgpatch: patch the Auto Scaling groups tagged ${AsgTagKey}=${AsgTagValue}"),
                "Schedule": ref("Schedule"),
                "ScheduleTimezone": ref("ScheduleTimezone"),
                "Duration": ref("Duration"),
                "Cutoff": ref("Cutoff"),
                "AllowUnassociatedTargets": False,
            },
        },
        "WindowTask": {
            "Type": "AWS::SSM::MaintenanceWindowTask",
            "Properties": {
                "WindowId": ref("MaintenanceWindow"),
                "Name": "patch-scaled-groups",
                "Description": "Start the patch run: the state machine ticks the engine until it is done",
                "TaskType": "STEP_FUNCTIONS",
                "TaskArn": ref("StateMachine"),
                "ServiceRoleArn": arn_of("WindowRole"),
                "Priority": 1,
                # No execution Name: a Standard execution's name cannot be reused for 90 days.
                "TaskInvocationParameters": {"MaintenanceWindowStepFunctionsParameters": {"Input": sub(WINDOW_INPUT)}},
            },
        },
    }


def template(defaults: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The whole template; `defaults` replace parameters' defaults (already validated: parameters.py)."""
    parameters = {name: dict(spec) for name, spec in PARAMETERS.items()}
    for name, value in (defaults or {}).items():
        parameters[name]["Default"] = value
    parameters["Concurrency"]["MaxValue"] = MAX_CONCURRENCY
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "asgpatch: patch scheduled Auto Scaling groups, scaled to zero or not, every maintenance window",
        "Metadata": {"asgpatch": {"generated-by": "asgpatch template", "handler": HANDLER}},
        "Parameters": parameters,
        "Conditions": {"HasEmail": {"Fn::Not": [{"Fn::Equals": [ref("NotificationEmail"), ""]}]}},
        "Resources": {**_storage(), **_notifications(), **_function(), **_orchestration()},
        "Outputs": {
            "WindowId": {"Description": "the Maintenance Window", "Value": ref("MaintenanceWindow")},
            "StateMachineArn": {"Description": "the patch run's state machine", "Value": ref("StateMachine")},
            "TopicArn": {"Description": "notifications", "Value": ref("Topic")},
            "RunBucket": {"Description": "run states and reports", "Value": ref("RunBucket")},
            "FunctionName": {"Description": "the engine", "Value": ref("Function")},
        },
    }


def render(document: Mapping[str, Any]) -> str:
    """YAML, in the order built (PyYAML: the CLI's, not the Lambda's, dependency)."""
    import yaml

    class Dumper(yaml.SafeDumper):
        def ignore_aliases(self, data: Any) -> bool:
            return True

    def text(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Dumper.add_representer(str, text)
    return str(yaml.dump(dict(document), Dumper=Dumper, sort_keys=False, width=120, allow_unicode=True))
