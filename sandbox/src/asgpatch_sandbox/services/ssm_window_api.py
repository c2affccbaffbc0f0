"""The Maintenance Windows API as AWS answers it: windows with every field (moto dropped
AllowUnassociatedTargets, Enabled and NextExecutionTime), UpdateMaintenanceWindow, tasks under `Type`
(moto answered `TaskType`), GetMaintenanceWindowTask, and the executions, their tasks and invocations
that services/ssm_maintenance_windows.py records."""

from __future__ import annotations

from typing import Any

from moto.core.responses import ActionResult

from asgpatch_sandbox.services.ssm_common import check_length, constraint_error, page, paged, parse_time, ssm_error, utc
from asgpatch_sandbox.services.ssm_maintenance_windows import (
    NEXT,
    Invocation,
    TaskRun,
    WindowRun,
    create_window,
    find_task,
    register_task,
    update_window,
    windows_world,
)

WINDOW_PARAMETERS = ("Name", "Description", "StartDate", "EndDate", "Schedule", "ScheduleTimezone", "ScheduleOffset",
                     "Duration", "Cutoff", "AllowUnassociatedTargets", "Enabled", "Tags")  # fmt: skip
TASK_PARAMETERS = ("WindowId", "Targets", "TaskArn", "ServiceRoleArn", "TaskType", "TaskParameters",
                   "TaskInvocationParameters", "Priority", "MaxConcurrency", "MaxErrors", "LoggingInfo", "Name",
                   "Description", "CutoffBehavior", "AlarmConfiguration")  # fmt: skip


def _params(self: Any, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: self._get_param(name) for name in names if self._get_param(name) is not None}


def _max_results(self: Any, default: int = 10) -> int:
    value = self._get_param("MaxResults")
    if value is None:
        return default
    if not 10 <= int(value) <= 100:
        raise constraint_error("maxResults", value, "have value between 10 and 100")
    return int(value)


def next_execution_time(window: Any) -> str | None:
    planned = getattr(window, NEXT, None)
    if planned is None or not getattr(window, "enabled", True):
        return None
    return utc(planned[0]).strftime("%Y-%m-%dT%H:%MZ")


def window_view(window: Any, identity: bool = False) -> dict[str, Any]:
    view = {
        "WindowId": window.id,
        "Name": window.name,
        "Description": window.description,
        "Enabled": getattr(window, "enabled", True),
        "Duration": window.duration,
        "Cutoff": window.cutoff,
        "Schedule": window.schedule,
        "ScheduleTimezone": window.schedule_timezone,
        "ScheduleOffset": window.schedule_offset,
        "StartDate": window.start_date,
        "EndDate": window.end_date,
        "NextExecutionTime": next_execution_time(window),
    }
    if not identity:
        view["AllowUnassociatedTargets"] = getattr(window, "allow_unassociated_targets", False)
        if getattr(window, "created", None) is not None:
            view["CreatedDate"], view["ModifiedDate"] = utc(window.created), utc(window.modified)
    return {key: value for key, value in view.items() if value is not None}


def task_view(task: Any, type_key: str = "Type") -> dict[str, Any]:
    view = {
        "WindowId": task.window_id,
        "WindowTaskId": task.window_task_id,
        "TaskArn": task.task_arn,
        type_key: task.task_type,
        "Targets": task.targets or [],
        "TaskParameters": task.task_parameters,
        "TaskInvocationParameters": task.task_invocation_parameters,
        "Priority": task.priority,
        "LoggingInfo": task.logging_info,
        "ServiceRoleArn": task.service_role_arn,
        "MaxConcurrency": task.max_concurrency,
        "MaxErrors": task.max_errors,
        "Name": task.name,
        "Description": task.description,
        "CutoffBehavior": task.cutoff_behavior,
        "AlarmConfiguration": task.alarm_configurations,
    }
    return {key: value for key, value in view.items() if value is not None}


# --- windows ----------------------------------------------------------------------------------------
def create_maintenance_window(self: Any) -> ActionResult:
    window = create_window(self.ssm_backend, _params(self, WINDOW_PARAMETERS))
    return ActionResult({"WindowId": window.id})


def get_maintenance_window(self: Any) -> ActionResult:
    return ActionResult(window_view(self.ssm_backend.get_maintenance_window(self._get_param("WindowId"))))


def update_maintenance_window(self: Any) -> ActionResult:
    changes = _params(self, WINDOW_PARAMETERS)
    window = update_window(self.ssm_backend, self._get_param("WindowId"), changes, bool(self._get_param("Replace")))
    view = window_view(window)
    for key in ("NextExecutionTime", "CreatedDate", "ModifiedDate"):
        view.pop(key, None)
    return ActionResult(view)


def describe_maintenance_windows(self: Any) -> ActionResult:
    windows = list(self.ssm_backend.windows.values())
    for item in self._get_param("Filters") or []:
        key, values = item.get("Key"), [str(v) for v in item.get("Values") or []]
        if key == "Name":
            windows = [w for w in windows if w.name in values]
        elif key == "Enabled":
            windows = [w for w in windows if str(getattr(w, "enabled", True)).lower() in [v.lower() for v in values]]
        else:
            raise ssm_error("ValidationException", f"Filter key {key} is not supported: use Name or Enabled.")
    items, token = page([window_view(w, identity=True) for w in windows], self._get_param("NextToken"),
                        _max_results(self), "windows")  # fmt: skip
    return paged("WindowIdentities", items, token)


# --- tasks ------------------------------------------------------------------------------------------
def register_task_with_maintenance_window(self: Any) -> ActionResult:
    task = register_task(self.ssm_backend, _params(self, TASK_PARAMETERS))
    return ActionResult({"WindowTaskId": task.window_task_id})


def get_maintenance_window_task(self: Any) -> ActionResult:
    task = find_task(self.ssm_backend, self._get_param("WindowId"), self._get_param("WindowTaskId"))
    return ActionResult(task_view(task, type_key="TaskType"))


TASK_FILTERS = {
    "WindowTaskId": "window_task_id",
    "TaskArn": "task_arn",
    "Priority": "priority",
    "TaskType": "task_type",
}


def describe_maintenance_window_tasks(self: Any) -> ActionResult:
    window = self.ssm_backend.get_maintenance_window(self._get_param("WindowId"))
    tasks = list(window.tasks.values())
    for item in self._get_param("Filters") or []:
        attr = TASK_FILTERS.get(item.get("Key"))
        if attr is None:
            raise ssm_error("ValidationException", f"Filter key {item.get('Key')} is not supported.")
        tasks = [t for t in tasks if str(getattr(t, attr)) in [str(v) for v in item.get("Values") or []]]
    views = [task_view(t) for t in tasks]
    for view in views:
        view.pop("TaskInvocationParameters", None)
    items, token = page(views, self._get_param("NextToken"), _max_results(self), "tasks")
    return paged("Tasks", items, token)


# --- executions -------------------------------------------------------------------------------------
def _times(item: Any) -> dict[str, Any]:
    times = {"StartTime": utc(item.start)}
    if item.end is not None:
        times["EndTime"] = utc(item.end)
    if item.details:
        times["StatusDetails"] = item.details
    return times


def _run(self: Any) -> WindowRun:
    run_id = self._get_param("WindowExecutionId")
    run = windows_world().region_runs(self.region).get(run_id)
    if run is None:
        raise ssm_error("DoesNotExistException", f"Maintenance window execution {run_id} does not exist")
    return run


def _task_run(self: Any) -> TaskRun:
    run, task_id = _run(self), self._get_param("TaskId")
    for task_run in run.tasks:
        if task_run.id == task_id:
            return task_run
    raise ssm_error("DoesNotExistException", f"Maintenance window execution task {task_id} does not exist")


def _status_filter(self: Any, items: list[Any]) -> list[Any]:
    filters = self._get_param("Filters") or []
    check_length("filters", filters, 5)
    for item in filters:
        if str(item.get("Key", "")).upper() != "STATUS":
            raise ssm_error("ValidationException", f"Filter key {item.get('Key')} is not supported: use STATUS.")
        items = [i for i in items if i.status in (item.get("Values") or [])]
    return items


def describe_maintenance_window_executions(self: Any) -> ActionResult:
    window = self.ssm_backend.get_maintenance_window(self._get_param("WindowId"))
    runs = [r for r in windows_world().region_runs(self.region).values() if r.window_id == window.id]
    for item in self._get_param("Filters") or []:
        key, values = item.get("Key"), [parse_time(str(v)) for v in item.get("Values") or []]
        if key == "ExecutedBefore":
            runs = [r for r in runs if all(r.start < v for v in values)]
        elif key == "ExecutedAfter":
            runs = [r for r in runs if all(r.start > v for v in values)]
        else:
            raise ssm_error("ValidationException", f"Filter key {key} is not supported: use ExecutedBefore or "
                                                   "ExecutedAfter.")  # fmt: skip
    views = [{"WindowId": r.window_id, "WindowExecutionId": r.id, "Status": r.status, **_times(r)}
             for r in sorted(runs, key=lambda r: r.start, reverse=True)]  # fmt: skip
    items, token = page(views, self._get_param("NextToken"), _max_results(self, 50), "executions")
    return paged("WindowExecutions", items, token)


def get_maintenance_window_execution(self: Any) -> ActionResult:
    run = _run(self)
    return ActionResult({"WindowExecutionId": run.id, "TaskIds": [t.id for t in run.tasks], "Status": run.status,
                         **_times(run)})  # fmt: skip


def _task_identity(run: WindowRun, task_run: TaskRun) -> dict[str, Any]:
    return {"WindowExecutionId": run.id, "TaskExecutionId": task_run.id, "Status": task_run.status,
            "TaskArn": task_run.task.task_arn, "TaskType": task_run.task.task_type, **_times(task_run)}  # fmt: skip


def describe_maintenance_window_execution_tasks(self: Any) -> ActionResult:
    run = _run(self)
    views = [_task_identity(run, t) for t in _status_filter(self, run.tasks)]
    items, token = page(views, self._get_param("NextToken"), _max_results(self), "execution-tasks")
    return paged("WindowExecutionTaskIdentities", items, token)


def get_maintenance_window_execution_task(self: Any) -> ActionResult:
    run, task_run = _run(self), _task_run(self)
    task = task_run.task
    view = {
        "WindowExecutionId": run.id,
        "TaskExecutionId": task_run.id,
        "TaskArn": task.task_arn,
        "ServiceRole": task.service_role_arn,
        "Type": task.task_type,
        "TaskParameters": [task.task_parameters] if task.task_parameters else [],
        "Priority": task.priority,
        "MaxConcurrency": task.max_concurrency,
        "MaxErrors": task.max_errors,
        "Status": task_run.status,
        **_times(task_run),
    }
    return ActionResult({key: value for key, value in view.items() if value is not None})


def _invocation_view(run: WindowRun, task_run: TaskRun, invocation: Invocation) -> dict[str, Any]:
    view = {"WindowExecutionId": run.id, "TaskExecutionId": task_run.id, "InvocationId": invocation.id,
            "ExecutionId": invocation.execution_id or None, "TaskType": task_run.task.task_type,
            "Parameters": invocation.parameters, "Status": invocation.status, **_times(invocation)}  # fmt: skip
    return {key: value for key, value in view.items() if value is not None}


def describe_maintenance_window_execution_task_invocations(self: Any) -> ActionResult:
    run, task_run = _run(self), _task_run(self)
    views = [_invocation_view(run, task_run, i) for i in _status_filter(self, task_run.invocations)]
    items, token = page(views, self._get_param("NextToken"), _max_results(self, 50), "invocations")
    return paged("WindowExecutionTaskInvocationIdentities", items, token)


def get_maintenance_window_execution_task_invocation(self: Any) -> ActionResult:
    run, task_run, invocation_id = _run(self), _task_run(self), self._get_param("InvocationId")
    for invocation in task_run.invocations:
        if invocation.id == invocation_id:
            return ActionResult(_invocation_view(run, task_run, invocation))
    raise ssm_error("DoesNotExistException", f"Maintenance window task invocation {invocation_id} does not exist")
