"""`asgpatch deploy` through the CLI against the sandbox, as a user would run it: a dry run changes nothing,
a deploy creates the stack and prints its outputs, a redeploy with nothing changed says so and changes
nothing, a schedule update reaches the window, and a bad schedule is exit 2 with the stack as it was."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from asgpatch_sandbox.process import SandboxProcess
from tests.integration.cli import QUICK_WORLD, cli
from tests.schemas import assert_matches_schema

STACK = "asgpatch-deploy-test"


@pytest.fixture(scope="module")
def account() -> Iterator[SandboxProcess]:
    with SandboxProcess(*QUICK_WORLD) as process:
        yield process


def stacks(sandbox: SandboxProcess) -> dict[str, str]:
    found = sandbox.client("cloudformation").list_stacks()["StackSummaries"]
    return {s["StackName"]: s["StackStatus"] for s in found if s["StackStatus"] != "DELETE_COMPLETE"}


def buckets(sandbox: SandboxProcess) -> set[str]:
    return {b["Name"] for b in sandbox.client("s3").list_buckets()["Buckets"]}


def deployed(sandbox: SandboxProcess, *args: str) -> tuple[int, dict[str, Any] | None, str]:
    result = cli(sandbox, "deploy", "--stack-name", STACK, "--output", "json", *args)
    assert "Traceback" not in result.stderr, result.stderr
    document = json.loads(result.stdout) if result.stdout else None
    if document is not None:
        assert_matches_schema(document, "deploy")
    return result.returncode, document, result.stderr


@pytest.fixture(scope="module")
def first(account: SandboxProcess) -> dict[str, Any]:
    """A dry run on an empty account, then the real deploy."""
    before = (stacks(account), buckets(account))
    code, dry, _ = deployed(account, "--dry-run")
    assert code == 0 and dry is not None
    after_dry = (stacks(account), buckets(account))
    code, done, stderr = deployed(account, "--parameter", "AsgTagValue=deployed", "--parameter", "Concurrency=4")
    assert code == 0, stderr
    assert done is not None
    return {"before": before, "after_dry": after_dry, "dry": dry, "done": done, "progress": stderr}


def test_a_dry_run_shows_the_change_set_and_changes_nothing(first):
    assert first["dry"]["status"] == "DRY_RUN"
    added = {c["logical_id"] for c in first["dry"]["changes"] if c["action"] == "Add"}
    assert {"MaintenanceWindow", "WindowTask", "StateMachine", "Function", "RunBucket", "Topic"} <= added
    assert first["after_dry"] == first["before"], "no stack, no bucket, no upload"


def test_the_deploy_creates_the_stack_and_prints_its_outputs(account, first):
    done = first["done"]
    assert done["status"] == "CREATE_COMPLETE" and stacks(account)[STACK] == "CREATE_COMPLETE"
    outputs = done["outputs"]
    assert {"WindowId", "StateMachineArn", "TopicArn", "RunBucket"} <= set(outputs)
    assert outputs["WindowId"].startswith("mw-") and len(outputs["WindowId"]) == 20
    assert "CREATE_COMPLETE" in first["progress"], "the stack's events are followed"
    code = done["code"]
    assert code["key"].startswith("asgpatch/lambda-") and code["key"].endswith(".zip")
    body = account.client("s3").get_object(Bucket=code["bucket"], Key=code["key"])["Body"].read()
    assert body[:2] == b"PK", "the engine's zip is in the artifact bucket"
    function = account.client("lambda").get_function(FunctionName=outputs["FunctionName"])["Configuration"]
    assert function["Runtime"] in ("python3.12", "python3.13")
    assert function["Handler"] == "asgpatch.lambda_handler.handler"


def test_a_redeploy_with_nothing_changed_succeeds_and_says_so(account, first):
    before = account.client("cloudformation").describe_stacks(StackName=STACK)["Stacks"][0]
    code, again, _ = deployed(account)
    assert code == 0 and again is not None and again["status"] == "NO_CHANGES"
    after = account.client("cloudformation").describe_stacks(StackName=STACK)["Stacks"][0]
    assert after["StackStatus"] == before["StackStatus"] and after.get("LastUpdatedTime") == before.get(
        "LastUpdatedTime")  # fmt: skip
    left = account.client("cloudformation").list_change_sets(StackName=STACK)["Summaries"]
    assert left == [], "the empty change set was deleted"


def test_a_new_schedule_reaches_the_window(account, first):
    code, updated, stderr = deployed(account, "--parameter", "Schedule=cron(30 5 ? * THU#3 *)")
    assert code == 0, stderr
    assert updated is not None and updated["status"] == "UPDATE_COMPLETE"
    assert [c["logical_id"] for c in updated["changes"]] == ["MaintenanceWindow"]
    window = account.client("ssm").get_maintenance_window(WindowId=first["done"]["outputs"]["WindowId"])
    assert window["Schedule"] == "cron(30 5 ? * THU#3 *)"
    parameters = account.client("cloudformation").describe_stacks(StackName=STACK)["Stacks"][0]["Parameters"]
    values = {p["ParameterKey"]: p["ParameterValue"] for p in parameters}
    assert (values["AsgTagValue"], values["Concurrency"]) == ("deployed", "4"), "the others keep their values"


def test_a_bad_schedule_is_refused_and_the_stack_is_as_it_was(account, first):
    before = account.client("cloudformation").describe_stacks(StackName=STACK)["Stacks"][0]
    result = cli(account, "deploy", "--stack-name", STACK, "--parameter", "Schedule=cron(0 4 * * * *)")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("asgpatch: Schedule:"), result.stderr
    after = account.client("cloudformation").describe_stacks(StackName=STACK)["Stacks"][0]
    assert after == before


def test_bad_input_is_refused_with_nothing_changed(account):
    for args, message in (
        (["--stack-name", "1stack"], "--stack-name"),
        (["--stack-name", STACK, "--parameter", "Nope=1"], "no such parameter"),
        (["--stack-name", STACK, "--parameter", "CodeS3Bucket=bucket-b"], "give both CodeS3Bucket and CodeS3Key"),
    ):
        result = cli(account, "deploy", *args)
        assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr, result.stderr


def test_a_stack_that_fails_is_exit_one_with_the_failing_resources_reason(account):
    """Code that is not where the stack says: the function cannot be created and the stack rolls back."""
    account.client("s3").create_bucket(Bucket="deploy-test-code")
    result = cli(account, "deploy", "--stack-name", "asgpatch-broken", "--parameter", "CodeS3Bucket=deploy-test-code",
                 "--parameter", "CodeS3Key=asgpatch/missing.zip")  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert "asgpatch: stack asgpatch-broken ended ROLLBACK_COMPLETE" in result.stderr
    assert "Function (AWS::Lambda::Function): Error occurred while GetObject. S3 Error Code: NoSuchKey" in result.stderr
    assert "Traceback" not in result.stderr
    again = cli(account, "deploy", "--stack-name", "asgpatch-broken")
    assert again.returncode == 2 and "ROLLBACK_COMPLETE and cannot be updated: delete it" in again.stderr
