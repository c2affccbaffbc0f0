"""Maintenance windows: AWS's schedule expressions (in-process, known answers), the Maintenance Windows API,
and windows that run their Step Functions tasks on the sandbox clock (over HTTP, as a client sees them)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from asgpatch_sandbox.services.ssm_window_schedule import InvalidSchedule, next_run, parse

ROLE = "arn:aws:iam::123456789012:role/maintenance-window"
PASS_SUCCEED = {"StartAt": "P", "States": {"P": {"Type": "Pass", "Next": "S"}, "S": {"Type": "Succeed"}}}


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=datetime.fromisoformat(text).tzinfo or UTC).timestamp()


def run_after(expression: str, after: str, **options: Any) -> str | None:
    found = next_run(expression, at(after), **options)
    return None if found is None else datetime.fromtimestamp(found[0], UTC).strftime("%Y-%m-%d %H:%M")


# --- the schedule, in-process ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("cron(0 4 ? * WED#2 *)", "2026-12-01T00:00", "2026-12-09 04:00"),  # the second Wednesday
        ("cron(0 4 ? * WED#2 *)", "2026-12-09T04:00", "2027-01-13 04:00"),  # strictly after: next month's
        ("cron(0 4 ? * 4#2 *)", "2026-12-01T00:00", "2026-12-09 04:00"),  # 4 is Wednesday (1 = SUN)
        ("cron(0 0 L * ? *)", "2027-02-01T00:00", "2027-02-28 00:00"),  # the last day
        ("cron(0 0 L * ? *)", "2028-02-01T00:00", "2028-02-29 00:00"),  # of a leap February
        ("cron(0 9 15W * ? *)", "2026-11-01T00:00", "2026-11-16 09:00"),  # the 15th is a Sunday: Monday
        ("cron(0 9 14W * ? *)", "2026-11-01T00:00", "2026-11-13 09:00"),  # the 14th is a Saturday: Friday
        ("cron(0 9 1W * ? *)", "2026-08-01T00:00", "2026-08-03 09:00"),  # Saturday the 1st: Monday the 3rd
        ("cron(0 9 LW * ? *)", "2026-05-01T00:00", "2026-05-29 09:00"),  # the last weekday (31st: Sunday)
        ("cron(0 9 ? * 6L *)", "2026-05-01T00:00", "2026-05-29 09:00"),  # the last Friday
        ("cron(30 23 ? * MON-FRI *)", "2026-12-05T00:00", "2026-12-07 23:30"),  # Saturday: Monday's
        ("cron(0 4 1 JAN,JUL ? 2030)", "2026-12-01T00:00", "2030-01-01 04:00"),  # the year field
        ("cron(0/15 * * * ? *)", "2026-12-01T10:07", "2026-12-01 10:15"),
        ("cron(0 0 30 2 ? *)", "2026-12-01T00:00", None),  # never
        ("rate(7 days)", "2026-12-01T00:00", "2026-12-08 00:00"),  # counting from the anchor (`after` here)
        ("at(2027-01-01T10:00:00)", "2026-12-01T00:00", "2027-01-01 10:00"),
        ("at(2027-01-01T10:00:00)", "2027-01-02T00:00", None),
    ],
)
def test_next_start_of_known_schedules(expression, after, expected):
    assert run_after(expression, after) == expected


def test_the_time_zone_reads_the_cron_in_local_time_across_daylight_saving():
    assert run_after("cron(0 4 ? * WED#2 *)", "2026-12-01T00:00", timezone="America/New_York") == "2026-12-09 09:00"
    assert run_after("cron(0 4 ? * WED#2 *)", "2026-07-01T00:00", timezone="America/New_York") == "2026-07-08 08:00"
    assert run_after("cron(0 4 ? * WED#2 *)", "2026-12-01T00:00", timezone="Asia/Tokyo") == "2026-12-08 19:00"


def test_the_offset_adds_days_after_the_cron_date_and_that_date_must_be_ahead():
    # the third Tuesday of December 2026 is the 15th: two days later, Thursday the 17th
    assert run_after("cron(30 23 ? * TUE#3 *)", "2026-12-01T00:00", offset_days=2) == "2026-12-17 23:30"
    # AWS: a cron date already past this period does not run this period, even if date + offset is ahead
    assert run_after("cron(30 23 ? * TUE#3 *)", "2026-12-16T00:00", offset_days=2) == "2027-01-21 23:30"


def test_start_and_end_dates_bound_the_runs():
    weekly = "cron(0 9 ? * WED *)"
    assert run_after(weekly, "2026-12-01T00:00", start_date="2026-12-20T00:00:00Z") == "2026-12-23 09:00"
    assert run_after(weekly, "2026-12-01T00:00", end_date="2026-12-02T12:00:00Z") == "2026-12-02 09:00"
    assert run_after(weekly, "2026-12-01T00:00", end_date="2026-12-02T08:00:00-00:00") is None


@pytest.mark.parametrize(
    "expression",
    ["cron(0 4 * * * *)", "cron(0 4 ? * ? *)", "cron(0 4 ? * WED#2)", "cron(61 4 ? * WED *)", "cron(0 4 ? * XYZ *)",
     "rate(0 days)", "rate(5 weeks)", "at(2027-13-01T00:00:00)", "0 4 * * ?", ""],
)  # fmt: skip
def test_what_aws_would_not_accept_is_refused(expression):
    with pytest.raises(InvalidSchedule):
        parse(expression)


# --- the API, over HTTP ---------------------------------------------------------------------------------
@pytest.fixture
def sfn(sandbox):
    return sandbox.client("stepfunctions")


@pytest.fixture
def cfn(sandbox):
    return sandbox.client("cloudformation")


def machine(sfn, name: str, definition: dict[str, Any] = PASS_SUCCEED) -> str:
    return sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=ROLE)["stateMachineArn"]


def window(ssm, name: str, schedule: str = "cron(0 4 ? * WED#2 *)", **extra: Any) -> str:
    options = {"Duration": 2, "Cutoff": 1, "AllowUnassociatedTargets": False, **extra}
    return ssm.create_maintenance_window(Name=name, Schedule=schedule, **options)["WindowId"]


def sfn_task(ssm, window_id: str, arn: str, payload: dict[str, Any] | None = None, priority: int = 1) -> str:
    parameters = {"StepFunctions": {"Input": json.dumps(payload or {"hello": "window"})}}
    return ssm.register_task_with_maintenance_window(
        WindowId=window_id, TaskArn=arn, TaskType="STEP_FUNCTIONS", ServiceRoleArn=ROLE, Priority=priority,
        TaskInvocationParameters=parameters,
    )["WindowTaskId"]  # fmt: skip


def in_an_hour(sandbox) -> tuple[str, float]:
    """A daily cron whose next start is about an hour from the sandbox's now, and that start."""
    start = datetime.fromtimestamp(sandbox.now(), UTC).replace(second=0, microsecond=0) + timedelta(hours=1)
    return f"cron({start.minute} {start.hour} * * ? *)", start.timestamp()


def executions(ssm, window_id: str) -> list[dict[str, Any]]:
    return ssm.describe_maintenance_window_executions(WindowId=window_id)["WindowExecutions"]


def test_a_window_answers_every_field_and_its_next_start(ssm, uid):
    window_id = window(ssm, f"fields-{uid}", ScheduleTimezone="America/New_York", ScheduleOffset=2, Description="d")
    got = ssm.get_maintenance_window(WindowId=window_id)
    assert got["WindowId"].startswith("mw-") and len(got["WindowId"]) == 20
    assert (got["Duration"], got["Cutoff"], got["Enabled"], got["AllowUnassociatedTargets"]) == (2, 1, True, False)
    assert (got["ScheduleTimezone"], got["ScheduleOffset"], got["Schedule"]) == (
        "America/New_York", 2, "cron(0 4 ? * WED#2 *)")  # fmt: skip
    assert got["NextExecutionTime"].endswith("Z") and "CreatedDate" in got and "ModifiedDate" in got
    listed = ssm.describe_maintenance_windows(Filters=[{"Key": "Name", "Values": [f"fields-{uid}"]}])
    assert [w["NextExecutionTime"] for w in listed["WindowIdentities"]] == [got["NextExecutionTime"]]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"Duration": 25}, "Member must have value less than or equal to 24"),
        ({"Duration": 3, "Cutoff": 3}, "Cuttoff was 3 but must be smaller than 2 (Duration - 1 )"),
        ({"Name": "has space"}, "Member must satisfy regular expression pattern"),
        ({"Schedule": "cron(0 4 * * * *)"}, "Invalid schedule"),
        ({"ScheduleTimezone": "Mars/Olympus"}, "Invalid schedule"),
        ({"Schedule": "rate(1 day)", "ScheduleOffset": 2}, "ScheduleOffset can only be used with a cron"),
    ],
)
def test_a_bad_window_is_refused_as_aws_refuses_it(ssm, uid, changes, message):
    options = {"Name": f"bad-{uid}", "Schedule": "cron(0 4 ? * WED#2 *)", "Duration": 2, "Cutoff": 1,
               "AllowUnassociatedTargets": False, **changes}  # fmt: skip
    with pytest.raises(ClientError) as refused:
        ssm.create_maintenance_window(**options)
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert message in refused.value.response["Error"]["Message"]


def test_update_changes_the_window_and_its_next_start(ssm, uid):
    window_id = window(ssm, f"update-{uid}")
    before = ssm.get_maintenance_window(WindowId=window_id)["NextExecutionTime"]
    answer = ssm.update_maintenance_window(WindowId=window_id, Schedule="cron(0 5 ? * THU#3 *)", Enabled=False)
    assert (answer["Schedule"], answer["Enabled"], answer["Duration"]) == ("cron(0 5 ? * THU#3 *)", False, 2)
    got = ssm.get_maintenance_window(WindowId=window_id)
    assert got["Enabled"] is False and "NextExecutionTime" not in got  # a disabled window never runs
    ssm.update_maintenance_window(WindowId=window_id, Enabled=True)
    assert ssm.get_maintenance_window(WindowId=window_id)["NextExecutionTime"] != before
    with pytest.raises(ClientError, match="Member must have value less than or equal to 24"):
        ssm.update_maintenance_window(WindowId=window_id, Duration=30)
    enabled = ssm.describe_maintenance_windows(Filters=[{"Key": "Enabled", "Values": ["false"]}])["WindowIdentities"]
    assert window_id not in [w["WindowId"] for w in enabled]


def test_a_targetless_step_functions_task_reports_placeholders_and_refuses_limits(ssm, sfn, uid):
    window_id, arn = window(ssm, f"task-{uid}"), machine(sfn, f"task-{uid}")
    with pytest.raises(ClientError, match="MaxConcurrency and MaxErrors can't be specified"):
        ssm.register_task_with_maintenance_window(WindowId=window_id, TaskArn=arn, TaskType="STEP_FUNCTIONS",
                                                  Priority=1, MaxConcurrency="1", MaxErrors="1")  # fmt: skip
    task_id = sfn_task(ssm, window_id, arn)
    listed = ssm.describe_maintenance_window_tasks(WindowId=window_id)["Tasks"]
    assert [(t["WindowTaskId"], t["Type"], t["MaxConcurrency"], t["MaxErrors"]) for t in listed] == [
        (task_id, "STEP_FUNCTIONS", "1", "1")]  # fmt: skip
    got = ssm.get_maintenance_window_task(WindowId=window_id, WindowTaskId=task_id)
    assert got["TaskType"] == "STEP_FUNCTIONS" and got["TaskArn"] == arn
    assert json.loads(got["TaskInvocationParameters"]["StepFunctions"]["Input"]) == {"hello": "window"}


# --- windows that run -----------------------------------------------------------------------------------
def test_a_window_starts_its_step_functions_task_when_it_is_due(sandbox, ssm, sfn, uid):
    schedule, start = in_an_hour(sandbox)
    window_id, arn = window(ssm, f"due-{uid}", schedule), machine(sfn, f"due-{uid}")
    sfn_task(ssm, window_id, arn, {"window": window_id, "ids": "{{WINDOW_ID}}"})
    sandbox.advance(1800)
    assert executions(ssm, window_id) == [] and sfn.list_executions(stateMachineArn=arn)["executions"] == []
    sandbox.advance(1800)
    [run] = executions(ssm, window_id)
    assert run["StartTime"].timestamp() == start
    [started] = sfn.list_executions(stateMachineArn=arn)["executions"]
    described = sfn.describe_execution(executionArn=started["executionArn"])
    assert json.loads(described["input"]) == {"window": window_id, "ids": window_id}  # {{WINDOW_ID}} filled in
    [task] = ssm.describe_maintenance_window_execution_tasks(WindowExecutionId=run["WindowExecutionId"])[
        "WindowExecutionTaskIdentities"]  # fmt: skip
    assert (task["TaskArn"], task["TaskType"]) == (arn, "STEP_FUNCTIONS")
    [invocation] = ssm.describe_maintenance_window_execution_task_invocations(
        WindowExecutionId=run["WindowExecutionId"], TaskId=task["TaskExecutionId"])[
        "WindowExecutionTaskInvocationIdentities"]  # fmt: skip
    assert invocation["ExecutionId"] == started["executionArn"]
    sandbox.advance(5)
    finished = ssm.get_maintenance_window_execution(WindowExecutionId=run["WindowExecutionId"])
    assert finished["Status"] == "SUCCESS" and finished["TaskIds"] == [task["TaskExecutionId"]]
    assert "EndTime" in finished
    one = ssm.get_maintenance_window_execution_task(WindowExecutionId=run["WindowExecutionId"],
                                                    TaskId=task["TaskExecutionId"])  # fmt: skip
    assert (one["Status"], one["Type"], one["ServiceRole"]) == ("SUCCESS", "STEP_FUNCTIONS", ROLE)


def test_after_a_three_month_jump_only_the_latest_missed_start_runs(sandbox, ssm, sfn, uid):
    window_id, arn = window(ssm, f"jump-{uid}", "cron(0 4 1 * ? *)"), machine(sfn, f"jump-{uid}")
    sfn_task(ssm, window_id, arn)
    now = datetime.fromtimestamp(sandbox.advance(92 * 86400), UTC)
    latest = now.replace(day=1, hour=4, minute=0, second=0, microsecond=0)
    if latest > now:
        latest = (latest - timedelta(days=1)).replace(day=1)
    [run] = executions(ssm, window_id)
    assert run["StartTime"].timestamp() == latest.timestamp()
    assert len(sfn.list_executions(stateMachineArn=arn)["executions"]) == 1


def test_a_disabled_window_does_not_run(sandbox, ssm, sfn, uid):
    schedule, _ = in_an_hour(sandbox)
    window_id, arn = window(ssm, f"off-{uid}", schedule), machine(sfn, f"off-{uid}")
    sfn_task(ssm, window_id, arn)
    ssm.update_maintenance_window(WindowId=window_id, Enabled=False)
    sandbox.advance(7200)
    assert executions(ssm, window_id) == [] and sfn.list_executions(stateMachineArn=arn)["executions"] == []


def test_tasks_run_by_priority_and_a_missing_state_machine_fails_the_window(sandbox, ssm, sfn, uid):
    schedule, _ = in_an_hour(sandbox)
    waits = {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 120, "End": True}}}
    window_id, slow = window(ssm, f"prio-{uid}", schedule), machine(sfn, f"prio-{uid}", waits)
    sfn_task(ssm, window_id, slow, priority=1)
    sfn_task(ssm, window_id, slow.replace(f"prio-{uid}", f"gone-{uid}"), priority=2)
    sandbox.advance(3600)
    [run] = executions(ssm, window_id)
    tasks = lambda: ssm.describe_maintenance_window_execution_tasks(WindowExecutionId=run["WindowExecutionId"])[  # noqa: E731
        "WindowExecutionTaskIdentities"]  # fmt: skip
    assert [t["TaskArn"] for t in tasks()] == [slow]  # priority 2 waits for priority 1 to end
    sandbox.advance(180)
    assert sorted(t["Status"] for t in tasks()) == ["FAILED", "SUCCESS"]
    assert ssm.get_maintenance_window_execution(WindowExecutionId=run["WindowExecutionId"])["Status"] == "FAILED"


def test_a_task_still_running_at_the_window_end_times_out_and_the_next_start_is_not_skipped(sandbox, ssm, sfn, uid):
    long_wait = {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 10 * 3600, "End": True}}}
    window_id = window(ssm, f"late-{uid}", "rate(1 hour)", Duration=2, Cutoff=0)
    arn = machine(sfn, f"late-{uid}", long_wait)
    sfn_task(ssm, window_id, arn)
    sandbox.advance(3600 + 60)
    sandbox.advance(3600)  # due again while the first still runs: skipped
    statuses = [e["Status"] for e in executions(ssm, window_id)]
    assert statuses == ["SKIPPED_OVERLAPPING", "IN_PROGRESS"]
    sandbox.advance(3600)  # the first window's two hours are over: it timed out, and the next one runs
    newest, skipped, first = executions(ssm, window_id)
    assert (newest["Status"], skipped["Status"], first["Status"]) == ("IN_PROGRESS", "SKIPPED_OVERLAPPING", "TIMED_OUT")
    assert first["EndTime"].timestamp() == first["StartTime"].timestamp() + 2 * 3600
    assert [e["status"] for e in sfn.list_executions(stateMachineArn=arn)["executions"]] == ["RUNNING", "RUNNING"]
