"""The execution API as boto3 sees it: DescribeExecution, ListExecutions, GetExecutionHistory, StopExecution.

moto answered a TIMED_OUT execution without its stopDate, a history of four made-up events, and a
StopExecution that dropped its error and cause; these answers read the sandbox's runs.
"""

from __future__ import annotations

from typing import Any

from moto.core.responses import ActionResult
from moto.stepfunctions.exceptions import InvalidToken

from asgpatch_sandbox.services.stepfunctions_executions import executions

DEFAULT_HISTORY_PAGE, MAX_HISTORY_PAGE = 100, 1000
_DATA_FIELDS = ("input", "inputDetails", "output", "outputDetails", "parameters")


def _over(execution: Any) -> bool:
    return str(execution.status) != "RUNNING"


def describe_execution(self: Any) -> ActionResult:
    arn = self._get_param("executionArn")
    execution = self.stepfunction_backend.describe_execution(arn)
    answer: dict[str, Any] = {
        "executionArn": arn,
        "stateMachineArn": execution.state_machine_arn,
        "name": execution.name,
        "status": str(execution.status),
        "startDate": execution.start_date,
        "input": execution.execution_input,
        "inputDetails": {"included": True},
        "redriveCount": 0,
    }
    if _over(execution):
        answer["stopDate"] = execution.stop_date
    if execution.status == "SUCCEEDED" and execution.output is not None:
        answer["output"], answer["outputDetails"] = execution.output, {"included": True}
    for key in ("error", "cause"):
        if getattr(execution, key) is not None:
            answer[key] = getattr(execution, key)
    return ActionResult(answer)


def list_executions(self: Any) -> ActionResult:
    arn = self._get_param("stateMachineArn")
    machine = self.stepfunction_backend.describe_state_machine(arn)
    found, next_token = self.stepfunction_backend.list_executions(
        arn,
        status_filter=self._get_param("statusFilter"),
        max_results=self._get_int_param("maxResults"),
        next_token=self._get_param("nextToken"),
    )
    items = []
    for execution in found:
        item = {
            "executionArn": execution.execution_arn,
            "name": execution.name,
            "startDate": execution.start_date,
            "stateMachineArn": machine.arn,
            "status": str(execution.status),
            "redriveCount": 0,
        }
        if _over(execution):
            item["stopDate"] = execution.stop_date
        items.append(item)
    return ActionResult({"executions": items, "nextToken": next_token})


def get_execution_history(self: Any) -> ActionResult:
    """Oldest first (reverseOrder: newest first), maxResults up to 1000 a page, nextToken to go on."""
    arn = self._get_param("executionArn")
    self.stepfunction_backend.describe_execution(arn)  # unknown: ExecutionDoesNotExist
    run = executions().runs.get(arn)
    events = list(run.history) if run is not None else []
    if self._get_param("reverseOrder"):
        events.reverse()
    size = min(max(self._get_int_param("maxResults") or DEFAULT_HISTORY_PAGE, 1), MAX_HISTORY_PAGE)
    token = self._get_param("nextToken")
    try:
        start = int(token) if token else 0
    except ValueError:
        raise InvalidToken(token) from None
    page = events[start : start + size]
    if self._get_param("includeExecutionData") is False:
        page = [_without_data(event) for event in page]
    answer: dict[str, Any] = {"events": page}
    if start + size < len(events):
        answer["nextToken"] = str(start + size)
    return ActionResult(answer)


def _without_data(event: dict[str, Any]) -> dict[str, Any]:
    trimmed = dict(event)
    for key, value in event.items():
        if key.endswith("EventDetails") and isinstance(value, dict):
            trimmed[key] = {k: v for k, v in value.items() if k not in _DATA_FIELDS}
    return trimmed


def stop_execution(self: Any) -> ActionResult:
    execution = self.stepfunction_backend.stop_execution(
        self._get_param("executionArn"), error=self._get_param("error"), cause=self._get_param("cause")
    )
    return ActionResult({"stopDate": execution.stop_date})
