"""Maintenance windows that run on the sandbox clock, and the checks AWS makes of windows and tasks.

moto stores windows and tasks without validation and never runs them. Here a window's next start is
computed from its Schedule (read in ScheduleTimezone, plus ScheduleOffset days, within StartDate and
EndDate) and kept on moto's window object; at each catch-up an enabled window that is due records a
window execution and starts its tasks, lowest Priority first (a group of equal priority together, the
next group once it has ended, none after the cutoff). A STEP_FUNCTIONS task starts a Step Functions
execution through moto's backend; its invocation follows that execution's status. A window execution
is SUCCESS when all its tasks succeeded, FAILED when one did not, TIMED_OUT when tasks still run at the
window's end (assumed: AWS lets the execution go on), SKIPPED_OVERLAPPING when the previous one still runs.

After a clock jump only the latest missed start runs (StartTime: when it was due; its first task group
starts now, even past the cutoff, as AWS would have started it on time): the sandbox cannot start a
state machine in the past, and starting every missed one at once would run them concurrently, which
AWS never would.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from moto.ssm import models as ssm_models

from asgpatch_sandbox.services.ssm_common import constraint_error, ssm_error
from asgpatch_sandbox.services.ssm_window_schedule import Cron, InvalidSchedule, next_run, parse, parse_date, zone
from asgpatch_sandbox.world import World, current

NEXT = "sandbox_next_run"  # on moto's window: (run, cron occurrence) of its next start, or None
NAME_PATTERN = r"^[a-zA-Z0-9_\-.]{3,128}$"
TASK_TYPES = ("RUN_COMMAND", "AUTOMATION", "STEP_FUNCTIONS", "LAMBDA")
TARGETLESS_TYPES = ("AUTOMATION", "STEP_FUNCTIONS", "LAMBDA")
SFN_STATUS = {"SUCCEEDED": "SUCCESS", "FAILED": "FAILED", "TIMED_OUT": "TIMED_OUT", "ABORTED": "CANCELLED"}
PSEUDO = ("WINDOW_ID", "WINDOW_EXECUTION_ID", "TASK_EXECUTION_ID", "INVOCATION_ID", "WINDOW_TASK_ID")


@dataclass
class Invocation:
    id: str
    execution_id: str
    parameters: str
    start: float
    status: str = "IN_PROGRESS"
    details: str = ""
    end: float | None = None


@dataclass
class TaskRun:
    id: str
    task: Any  # moto's FakeMaintenanceWindowTask, as registered when the run began
    start: float
    status: str = "IN_PROGRESS"
    details: str = ""
    end: float | None = None
    invocations: list[Invocation] = field(default_factory=list)


@dataclass
class WindowRun:
    window_id: str
    id: str
    start: float
    window_end: float  # start + Duration
    cutoff: float  # no task group starts after this
    status: str = "IN_PROGRESS"
    details: str = ""
    end: float | None = None
    tasks: list[TaskRun] = field(default_factory=list)
    waiting: list[list[Any]] = field(default_factory=list)  # task groups by priority, not started yet


class WindowsWorld:
    """Every region's window executions; starts the due ones and follows the running ones."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.runs: dict[str, dict[str, WindowRun]] = {}

    def region_runs(self, region: str) -> dict[str, WindowRun]:
        return self.runs.setdefault(region, {})

    def advance(self, region: str, now: float) -> None:
        backend = self.world.ssm(region)
        runs = self.region_runs(region)
        for run in runs.values():
            if run.status == "IN_PROGRESS":
                self._follow(region, run, now)
        for window in list(backend.windows.values()):
            planned = getattr(window, NEXT, None)
            if planned is None or planned[0] > now or not getattr(window, "enabled", True):
                continue
            latest = latest_due(window, planned, now)
            setattr(window, NEXT, plan(window, after_occurrence=latest[1]))
            self._begin(region, window, latest[0], now)

    def _begin(self, region: str, window: Any, start: float, now: float) -> None:
        runs = self.region_runs(region)
        run = WindowRun(window.id, str(uuid.uuid4()), start, start + window.duration * 3600,
                        start + (window.duration - window.cutoff) * 3600)  # fmt: skip
        runs[run.id] = run
        if any(r.window_id == window.id and r.status == "IN_PROGRESS" for r in runs.values() if r is not run):
            run.status, run.end = "SKIPPED_OVERLAPPING", start
            return
        groups: dict[int, list[Any]] = {}
        for task in window.tasks.values():
            groups.setdefault(int(task.priority or 0), []).append(task)
        run.waiting = [groups[p] for p in sorted(groups)]
        self._follow(region, run, now)

    def _follow(self, region: str, run: WindowRun, now: float) -> None:
        for task_run in run.tasks:
            for invocation in task_run.invocations:
                if invocation.status == "IN_PROGRESS":
                    _follow_invocation(region, invocation, now)
            if task_run.status == "IN_PROGRESS" and all(i.status != "IN_PROGRESS" for i in task_run.invocations):
                task_run.status = _overall([i.status for i in task_run.invocations])
                task_run.end = max((i.end or now for i in task_run.invocations), default=now)
        while run.waiting and all(t.status != "IN_PROGRESS" for t in run.tasks):
            if now > run.cutoff and run.tasks:  # the first group starts however late the sandbox notices
                run.waiting = []  # the cutoff passed: no more task groups start
                break
            for task in run.waiting.pop(0):
                run.tasks.append(self._start_task(region, run, task, now))
        if all(t.status != "IN_PROGRESS" for t in run.tasks) and not run.waiting:
            run.status = _overall([t.status for t in run.tasks])
            run.end = max((t.end or now for t in run.tasks), default=now)
        elif now >= run.window_end:
            run.status, run.end, run.waiting = "TIMED_OUT", run.window_end, []
            for task_run in run.tasks:
                for invocation in task_run.invocations:
                    if invocation.status == "IN_PROGRESS":
                        invocation.status, invocation.end = "TIMED_OUT", run.window_end
                if task_run.status == "IN_PROGRESS":
                    task_run.status, task_run.end = "TIMED_OUT", run.window_end

    def _start_task(self, region: str, run: WindowRun, task: Any, now: float) -> TaskRun:
        task_run = TaskRun(str(uuid.uuid4()), task, now)
        if task.task_type != "STEP_FUNCTIONS":
            task_run.status, task_run.end = "FAILED", now
            task_run.details = f"the sandbox runs STEP_FUNCTIONS tasks only, not {task.task_type}"
            return task_run
        parameters = dict((task.task_invocation_parameters or {}).get("StepFunctions") or {})
        invocation_id = str(uuid.uuid4())
        values = {"WINDOW_ID": run.window_id, "WINDOW_EXECUTION_ID": run.id, "TASK_EXECUTION_ID": task_run.id,
                  "INVOCATION_ID": invocation_id, "WINDOW_TASK_ID": task.window_task_id}  # fmt: skip
        execution_input = _substitute(parameters.get("Input") or "{}", values)
        name = parameters.get("Name") or invocation_id
        shown = json.dumps({"input": execution_input, "name": name}, separators=(",", ":"))
        invocation = Invocation(invocation_id, "", shown, now)
        task_run.invocations.append(invocation)
        try:
            execution = _stepfunctions(region).start_execution(task.task_arn, name, execution_input)
        except Exception as error:  # what Step Functions answered is the invocation's outcome
            invocation.status, invocation.end = "FAILED", now
            invocation.details = f"{type(error).__name__}: {getattr(error, 'message', error)}"[:250]
            task_run.status, task_run.end = "FAILED", now
            return task_run
        invocation.execution_id = execution.execution_arn
        return task_run


def _stepfunctions(region: str) -> Any:
    """moto's Step Functions backend, looked up at each call (it may be replaced by the sandbox)."""
    from moto.stepfunctions import models as sfn_models

    return sfn_models.stepfunctions_backends[current().account_id][region]


def _follow_invocation(region: str, invocation: Invocation, now: float) -> None:
    try:
        execution = _stepfunctions(region).describe_execution(invocation.execution_id)
    except Exception as error:
        invocation.status, invocation.end, invocation.details = "FAILED", now, str(error)[:250]
        return
    outcome = SFN_STATUS.get(str(execution.status))
    if outcome is None:
        return
    stopped: Any = getattr(execution, "stop_date", None)
    end = stopped.timestamp() if stopped is not None and hasattr(stopped, "timestamp") else now
    invocation.status, invocation.end = outcome, min(max(end, invocation.start), now)
    invocation.details = str(getattr(execution, "error", "") or "")[:250]


def _overall(statuses: list[str]) -> str:
    if all(s == "SUCCESS" for s in statuses):
        return "SUCCESS"
    return "TIMED_OUT" if "TIMED_OUT" in statuses and "FAILED" not in statuses else "FAILED"


def _substitute(text: str, values: dict[str, str]) -> str:
    """AWS's pseudo parameters ({{WINDOW_ID}} …) that have a value for a targetless task."""
    return re.sub(r"\{\{(\w+)\}\}", lambda m: values.get(m.group(1), m.group(0)), text)


def plan(window: Any, after_occurrence: float) -> tuple[float, float] | None:
    """The window's next (start, cron occurrence) after that occurrence, or None."""
    return next_run(
        window.schedule,
        after_occurrence,
        timezone=window.schedule_timezone,
        offset_days=window.schedule_offset or 0,
        start_date=window.start_date,
        end_date=window.end_date,
        anchor=getattr(window, "modified", None),
    )


def latest_due(window: Any, planned: tuple[float, float], now: float) -> tuple[float, float]:
    """The last start due by now, from `planned` on: look back a little, then a lot, then walk forward."""
    latest, offset = planned, (window.schedule_offset or 0) * 86400
    for lookback in (60, 3600, 86400, 32 * 86400, 366 * 86400):
        probe = plan(window, after_occurrence=max(latest[1], now - offset - lookback))
        if probe is not None and probe[0] <= now:
            latest = probe
            break
    for _ in range(10_000):
        following = plan(window, after_occurrence=latest[1])
        if following is None or following[0] > now:
            break
        latest = following
    return latest


def replan(window: Any) -> None:
    setattr(window, NEXT, plan(window, after_occurrence=current().clock.now()))


# --- the checks AWS makes (CreateMaintenanceWindow, UpdateMaintenanceWindow, RegisterTask…) ------------
def check_window(values: dict[str, Any]) -> None:
    """ValidationException as the Systems Manager API answers it; `values` uses the API's names."""
    name, duration, cutoff = values.get("Name"), values.get("Duration"), values.get("Cutoff")
    if name is not None and not re.match(NAME_PATTERN, str(name)):
        raise constraint_error("name", name, f"satisfy regular expression pattern: {NAME_PATTERN}")
    for key, low, high in (("Duration", 1, 24), ("Cutoff", 0, 23), ("ScheduleOffset", 1, 6)):
        value = values.get(key)
        if value is not None and not low <= int(value) <= high:
            bound = f"less than or equal to {high}" if int(value) > high else f"greater than or equal to {low}"
            raise constraint_error(key[0].lower() + key[1:], value, f"have value {bound}")
    if duration is not None and cutoff is not None and int(cutoff) >= int(duration):
        raise ssm_error("ValidationException", f"Cuttoff was {cutoff} but must be smaller than "
                                               f"{int(duration) - 1} (Duration - 1 )")  # fmt: skip
    try:
        schedule = parse(str(values.get("Schedule") or ""))
        zone(values.get("ScheduleTimezone"))
        parse_date(values.get("StartDate"))
        parse_date(values.get("EndDate"))
    except InvalidSchedule as error:
        raise ssm_error("ValidationException", f"Invalid schedule: {values.get('Schedule')}: {error}") from None
    if values.get("ScheduleOffset") and not isinstance(schedule, Cron):
        raise ssm_error("ValidationException", "ScheduleOffset can only be used with a cron expression.")


def create_window(backend: Any, values: dict[str, Any]) -> Any:
    check_window(values)
    window_id = backend.create_maintenance_window(
        name=values["Name"],
        description=values.get("Description"),
        duration=int(values["Duration"]),
        cutoff=int(values["Cutoff"]),
        schedule=values["Schedule"],
        schedule_timezone=values.get("ScheduleTimezone"),
        schedule_offset=int(values["ScheduleOffset"]) if values.get("ScheduleOffset") else None,
        start_date=values.get("StartDate"),
        end_date=values.get("EndDate"),
        tags=values.get("Tags"),
    )
    window = backend.windows[window_id]
    now = current().clock.now()
    window.allow_unassociated_targets = bool(values.get("AllowUnassociatedTargets", False))
    window.enabled, window.created, window.modified = True, now, now
    replan(window)
    return window


WINDOW_FIELDS = {"Name": "name", "Description": "description", "StartDate": "start_date", "EndDate": "end_date",
                 "Schedule": "schedule", "ScheduleTimezone": "schedule_timezone", "ScheduleOffset": "schedule_offset",
                 "Duration": "duration", "Cutoff": "cutoff", "AllowUnassociatedTargets": "allow_unassociated_targets",
                 "Enabled": "enabled"}  # fmt: skip
REQUIRED_ON_REPLACE = ("Name", "Schedule", "Duration", "Cutoff", "AllowUnassociatedTargets")


def update_window(backend: Any, window_id: str, changes: dict[str, Any], replace: bool = False) -> Any:
    """UpdateMaintenanceWindow: the fields given change; with Replace, the optional ones not given clear."""
    window = backend.get_maintenance_window(window_id)
    if replace:
        missing = [key for key in REQUIRED_ON_REPLACE if changes.get(key) is None]
        if missing:
            raise ssm_error("ValidationException", f"With Replace, {', '.join(missing)} must be specified.")
    merged = {key: getattr(window, attr, None) for key, attr in WINDOW_FIELDS.items()}
    if replace:
        merged.update({key: None for key in WINDOW_FIELDS if key not in REQUIRED_ON_REPLACE})
    merged.update({key: value for key, value in changes.items() if key in WINDOW_FIELDS and value is not None})
    check_window(merged)
    for key, attr in WINDOW_FIELDS.items():
        value = merged.get(key)
        if key in ("Duration", "Cutoff", "ScheduleOffset") and value is not None:
            value = int(value)
        setattr(window, attr, True if key == "Enabled" and value is None else value)
    window.modified = current().clock.now()
    replan(window)
    return window


def register_task(backend: Any, values: dict[str, Any]) -> Any:
    """RegisterTaskWithMaintenanceWindow with AWS's checks; a targetless task reports 1 and 1."""
    window = backend.get_maintenance_window(values["WindowId"])
    task_type, targets = values.get("TaskType"), values.get("Targets") or []
    if task_type not in TASK_TYPES:
        raise constraint_error("taskType", task_type, f"satisfy enum value set: [{', '.join(TASK_TYPES)}]")
    concurrency, errors = values.get("MaxConcurrency"), values.get("MaxErrors")
    if not targets:
        if task_type not in TARGETLESS_TYPES:
            raise ssm_error("ValidationException", "Targets must be specified for RUN_COMMAND tasks.")
        if concurrency is not None or errors is not None:
            raise ssm_error("ValidationException", "MaxConcurrency and MaxErrors can't be specified for a task "
                                                   "without targets.")  # fmt: skip
        concurrency, errors = "1", "1"
    elif concurrency is None or errors is None:
        raise ssm_error("ValidationException", "MaxConcurrency and MaxErrors must be specified for a task with "
                                               "targets.")  # fmt: skip
    sfn = (values.get("TaskInvocationParameters") or {}).get("StepFunctions") or {}
    if len(str(sfn.get("Input") or "")) > 4096:
        raise constraint_error("taskInvocationParameters.stepFunctions.input", "***", "have length less than or "
                               "equal to 4096")  # fmt: skip
    if len(str(sfn.get("Name") or "")) > 80:
        raise constraint_error("taskInvocationParameters.stepFunctions.name", sfn["Name"], "have length less than "
                               "or equal to 80")  # fmt: skip
    task_id = backend.register_task_with_maintenance_window(
        window_id=window.id,
        targets=targets,
        task_arn=values["TaskArn"],
        service_role_arn=values.get("ServiceRoleArn"),
        task_type=task_type,
        task_parameters=values.get("TaskParameters"),
        task_invocation_parameters=values.get("TaskInvocationParameters"),
        priority=int(values.get("Priority", 1) if values.get("Priority") is not None else 1),
        max_concurrency=concurrency,
        max_errors=errors,
        logging_info=values.get("LoggingInfo"),
        name=values.get("Name"),
        description=values.get("Description"),
        cutoff_behavior=values.get("CutoffBehavior") or "CONTINUE_TASK",
        alarm_configurations=values.get("AlarmConfiguration"),
    )
    return window.tasks[task_id]


def find_task(backend: Any, window_id: str, task_id: str) -> Any:
    window = backend.get_maintenance_window(window_id)
    task = window.tasks.get(task_id)
    if task is None:
        raise ssm_error("DoesNotExistException", f"Maintenance window {window_id} does not contain task {task_id}")
    return task


def windows_world() -> WindowsWorld:
    return current().part(WindowsWorld)


Window = ssm_models.FakeMaintenanceWindow
