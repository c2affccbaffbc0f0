"""The deployed form's CloudFormation template: cfn-lint finds nothing, every resource the issue asks for is
there and wired as AWS needs it, the Lambda's policy is the adapter's declared one (never a second copy),
and bad parameter values are refused before anything is written."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from asgpatch.aws.policy import Names, policy
from asgpatch.cli import cli
from asgpatch.config import KEYS
from asgpatch.stack.parameters import PARAMETERS, RUNTIME, ParameterError, parse_assignments, validate
from asgpatch.stack.template import engine_policy, render, template

TEMPLATE = template()
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]


def of_type(kind: str) -> dict[str, Any]:
    return {name: r for name, r in RESOURCES.items() if r["Type"] == kind}


def test_cfn_lint_finds_nothing_in_the_written_template():
    from cfnlint.api import ManualArgs, lint

    matches = lint(render(TEMPLATE), config=ManualArgs(regions=["us-east-1", "eu-west-1"]))
    assert [f"{m.rule.id} {m.message} ({m.path})" for m in matches] == []


def test_the_yaml_reads_back_as_the_template():
    assert yaml.safe_load(render(TEMPLATE)) == json.loads(json.dumps(TEMPLATE))


def test_the_parameters_the_issue_names_are_there_with_the_reference_defaults():
    wanted = {"AsgTagKey", "AsgTagValue", "Schedule", "ScheduleTimezone", "Duration", "Cutoff", "NotificationEmail",
              "Concurrency", "PollSeconds", "CodeS3Bucket", "CodeS3Key"}  # fmt: skip
    parameters = TEMPLATE["Parameters"]
    assert wanted <= set(parameters)
    assert (parameters["AsgTagKey"]["Default"], parameters["AsgTagValue"]["Default"]) == ("ep:asg:patch", "true")
    assert parameters["Schedule"]["Default"] == "cron(0 4 ? * WED#2 *)"
    assert (parameters["Duration"]["Default"], parameters["Cutoff"]["Default"]) == (1, 0)


def test_the_window_is_the_reference_window_with_a_targetless_step_functions_task():
    (window,) = of_type("AWS::SSM::MaintenanceWindow").values()
    props = window["Properties"]
    assert props["Name"] == {"Fn::Sub": "Maintenance_Window-${AsgTagValue}"}
    assert props["AllowUnassociatedTargets"] is False
    assert {k: props[k] for k in ("Schedule", "ScheduleTimezone", "Duration", "Cutoff")} == {
        k: {"Ref": k} for k in ("Schedule", "ScheduleTimezone", "Duration", "Cutoff")}  # fmt: skip
    (task,) = of_type("AWS::SSM::MaintenanceWindowTask").values()
    props = task["Properties"]
    assert props["TaskType"] == "STEP_FUNCTIONS" and props["TaskArn"] == {"Ref": "StateMachine"}
    assert "Targets" not in props and "MaxConcurrency" not in props and "MaxErrors" not in props
    step = props["TaskInvocationParameters"]["MaintenanceWindowStepFunctionsParameters"]
    assert "Name" not in step, "a fixed execution name could not be reused for 90 days"
    text = step["Input"]["Fn::Sub"]
    filled = text.replace("${MaintenanceWindow}", "mw-0123456789abcdef0").replace("${Duration}", "3")
    assert json.loads(filled.replace("${Cutoff}", "1")) == {
        "window_id": "mw-0123456789abcdef0", "duration_hours": 3, "cutoff_hours": 1}  # fmt: skip
    assert len(filled) <= 4096


def test_the_bucket_is_private_encrypted_and_forgets_old_runs():
    props = RESOURCES["RunBucket"]["Properties"]
    assert all(props["PublicAccessBlockConfiguration"].values())
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    (rule,) = props["LifecycleConfiguration"]["Rules"]
    assert rule["Status"] == "Enabled" and rule["ExpirationInDays"] == {"Ref": "RunRetentionDays"}


def test_the_topic_is_encrypted_with_a_key_eventbridge_may_use_and_the_email_is_optional():
    assert RESOURCES["Topic"]["Properties"]["KmsMasterKeyId"] == {"Ref": "TopicKey"}
    key_policy = RESOURCES["TopicKey"]["Properties"]["KeyPolicy"]["Statement"]
    events = [s for s in key_policy if s.get("Principal") == {"Service": "events.amazonaws.com"}]
    assert events and set(events[0]["Action"]) == {"kms:GenerateDataKey*", "kms:Decrypt"}
    assert RESOURCES["EmailSubscription"]["Condition"] == "HasEmail"
    (statement,) = RESOURCES["TopicPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"} and "aws:SourceArn" in json.dumps(statement)


def test_the_failure_rule_reports_and_restores_failed_timed_out_and_aborted_executions():
    props = RESOURCES["FailureRule"]["Properties"]
    pattern = props["EventPattern"]
    assert pattern["source"] == ["aws.states"] and pattern["detail-type"] == ["Step Functions Execution Status Change"]
    assert set(pattern["detail"]["status"]) == {"FAILED", "TIMED_OUT", "ABORTED"}
    assert {t["Id"]: t["Arn"] for t in props["Targets"]} == {
        "Topic": {"Ref": "Topic"}, "Restore": {"Fn::GetAtt": ["Function", "Arn"]}}  # fmt: skip
    assert RESOURCES["FailureRuleInvokes"]["Properties"]["Principal"] == "events.amazonaws.com"


def test_the_function_runs_the_handler_on_a_supported_runtime_with_the_runs_settings():
    props = RESOURCES["Function"]["Properties"]
    assert props["Runtime"] == RUNTIME and RUNTIME in ("python3.12", "python3.13")
    assert props["Handler"] == "asgpatch.lambda_handler.handler" and props["Timeout"] == {"Ref": "TickSeconds"}
    assert TEMPLATE["Parameters"]["TickSeconds"]["Default"] == 900 == TEMPLATE["Parameters"]["TickSeconds"]["MaxValue"]
    known = {key.env for key in KEYS} | {"ASGPATCH_RUN_BUCKET", "ASGPATCH_WINDOW_HOURS", "ASGPATCH_CUTOFF_HOURS"}
    assert set(props["Environment"]["Variables"]) <= known
    for group in of_type("AWS::Logs::LogGroup").values():
        assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def test_the_engine_policy_is_the_adapters_declared_policy_for_the_stacks_names():
    role = RESOURCES["FunctionRole"]["Properties"]
    (engine,) = [p for p in role["Policies"] if p["PolicyName"] == "engine"]
    assert engine["PolicyDocument"] == {"Fn::Sub": engine_policy()}
    values = {"AsgTagKey": "team:patch", "AsgTagValue": "prod", "AWS::AccountId": "210987654321",
              "AWS::Partition": "aws", "AWS::Region": "eu-west-1", "RunBucket": "runs-bucket",
              "Topic": "arn:aws:sns:eu-west-1:210987654321:t", "InstanceRoles": "app-*"}  # fmt: skip
    filled = re.sub(r"\$\{([^}]+)\}", lambda m: values[m.group(1)], engine["PolicyDocument"]["Fn::Sub"])
    expected = policy(Names(tag_key="team:patch", tag_value="prod", account="210987654321", region="eu-west-1",
                            run_bucket="runs-bucket", topic_arn="arn:aws:sns:eu-west-1:210987654321:t",
                            instance_roles="app-*"))  # fmt: skip
    assert json.loads(filled) == expected
    passes = [s for s in expected["Statement"] if s["Action"] == "iam:PassRole"]
    assert passes and passes[0]["Condition"] == {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}


def test_roles_are_assumed_only_by_their_service_in_this_account():
    for name, role in of_type("AWS::IAM::Role").items():
        (statement,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}, name
    machine = json.dumps(RESOURCES["StateMachineRole"]["Properties"]["Policies"])
    assert "lambda:InvokeFunction" in machine and '"Resource": "*"' not in machine.split("LogDelivery")[0]


def test_the_outputs_name_the_window_state_machine_topic_and_bucket():
    assert {"WindowId", "StateMachineArn", "TopicArn", "RunBucket"} <= set(TEMPLATE["Outputs"])


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (["AsgTagValue=prod env"], "AsgTagValue 'prod env' is not allowed"),
        (["AsgTagValue=" + "v" * 110], "AsgTagValue"),
        (["Duration=2", "Cutoff=2"], "Cutoff (2 h) must be less than Duration (2 h)"),
        (["Duration=25"], "Duration must be between 1 and 24"),
        (["Concurrency=ten"], "Concurrency must be a whole number"),
        (["PollSeconds=10"], "PollSeconds must be between 60 and 3600"),
        (["ScheduleTimezone=Mars/Olympus"], "not an IANA time zone"),
        (["NotificationEmail=ops"], "not an email address"),
        (["LogRetentionDays=8"], "LogRetentionDays must be one of"),
        (["Colour=blue"], "no such parameter"),
        (["Schedule"], "expected NAME=VALUE"),
        (["Duration=2", "Duration=3"], "given twice"),
    ],
)
def test_bad_values_are_refused_naming_the_parameter(given, message):
    with pytest.raises(ParameterError, match=re.escape(message)):
        validate(parse_assignments(given))


def test_code_location_is_required_to_deploy():
    with pytest.raises(ParameterError, match="CodeS3Bucket is required"):
        validate({}, required=("CodeS3Bucket", "CodeS3Key"))
    assert "Default" not in PARAMETERS["CodeS3Bucket"]


def test_template_command_writes_the_file_with_the_given_defaults(tmp_path):
    out = tmp_path / "stack.yaml"
    result = CliRunner().invoke(cli, ["template", "--output", str(out), "--parameter", "AsgTagValue=prod",
                                      "--parameter", "Duration=3", "--parameter", "Cutoff=1"])  # fmt: skip
    assert result.exit_code == 0, result.output
    written = yaml.safe_load(out.read_text())
    assert written["Parameters"]["AsgTagValue"]["Default"] == "prod"
    assert (written["Parameters"]["Duration"]["Default"], written["Parameters"]["Cutoff"]["Default"]) == ("3", "1")


def test_template_command_refuses_a_bad_value_in_one_line_and_writes_nothing(tmp_path):
    out = tmp_path / "stack.yaml"
    result = CliRunner().invoke(cli, ["template", "--output", str(out), "--parameter", "AsgTagValue=a b"])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and result.output.startswith("asgpatch: AsgTagValue")
    assert "Traceback" not in result.output and not out.exists()


def test_template_command_prints_to_stdout_without_output():
    result = CliRunner().invoke(cli, ["template"])
    assert result.exit_code == 0 and yaml.safe_load(result.output)["Resources"].keys() == RESOURCES.keys()


def test_a_schedule_aws_would_refuse_is_refused_naming_the_field():
    with pytest.raises(ParameterError, match=re.escape("Schedule: ") + ".*day-of-month and day-of-week"):
        validate({"Schedule": "cron(0 4 * * * *)"})
    assert validate({"Schedule": "rate(7 days)"}) == {"Schedule": "rate(7 days)"}


def test_the_handler_refuses_a_runtime_boto3_older_than_the_engine_needs():
    import tomllib
    from pathlib import Path

    from asgpatch import lambda_handler

    project = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    (bound,) = [d for d in project["project"]["dependencies"] if d.startswith("boto3")]
    assert bound.split(">=")[1].split()[0] == ".".join(map(str, lambda_handler.MINIMUM_BOTO3))
    lambda_handler.check_boto3()  # the installed one is new enough
    with pytest.raises(RuntimeError, match=r"needs boto3 >= 1\.43; this Lambda runtime has 1\.34\.0.*--bundle-boto3"):
        lambda_handler.check_boto3("1.34.0")
    lambda_handler.check_boto3("1.43.0")
