"""How Run Command shows a command and its invocations: the views List/Get answer with, and their filters."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asgpatch_sandbox.services.ssm_commands import Command, Invocation
from asgpatch_sandbox.services.ssm_common import parse_time, ssm_error, utc
from asgpatch_sandbox.services.ssm_documents import document_steps

PLUGIN_OUTPUT_LIMIT = 2500


def command_view(command: Command, now: float) -> dict[str, Any]:
    status, details = command.status(now)
    finals = [inv.final for inv in command.invocations]
    return {
        "CommandId": command.command_id,
        "DocumentName": command.document_name,
        "DocumentVersion": command.document_version,
        "Comment": command.comment,
        "ExpiresAfter": utc(command.requested + command.timeout_seconds),
        "Parameters": command.parameters,
        "InstanceIds": command.instance_ids,
        "Targets": command.targets,
        "RequestedDateTime": utc(command.requested),
        "Status": status,
        "StatusDetails": details,
        "OutputS3Region": command.extras["OutputS3Region"],
        "OutputS3BucketName": command.extras["OutputS3BucketName"],
        "OutputS3KeyPrefix": command.extras["OutputS3KeyPrefix"],
        "MaxConcurrency": command.max_concurrency,
        "MaxErrors": command.max_errors,
        "TargetCount": len(command.invocations),
        "CompletedCount": sum(1 for f in finals if f is not None),
        "ErrorCount": command.errors(),
        "DeliveryTimedOutCount": sum(1 for f in finals if f == ("TimedOut", "DeliveryTimedOut")),
        "ServiceRole": command.extras["ServiceRole"],
        "NotificationConfig": command.extras["NotificationConfig"],
        "CloudWatchOutputConfig": command.extras["CloudWatchOutputConfig"],
        "TimeoutSeconds": command.timeout_seconds,
    }


def combined_output(inv: Invocation) -> str:
    """A plugin's Output as AWS shows it: stdout, then stderr under an error banner."""
    text = inv.stdout
    if inv.stderr:
        text += "\n----------ERROR-------\n" + inv.stderr
    return text[:PLUGIN_OUTPUT_LIMIT]


def plugin_views(command: Command, inv: Invocation, now: float) -> list[dict[str, Any]]:
    status, details = inv.phase(now)
    plugins = []
    for step in document_steps(command.document):
        started = inv.start_at if inv.start_at is not None and inv.start_at <= now else None
        view: dict[str, Any] = {
            "Name": step.name,
            "Status": "Success" if step.skipped and started else _plugin_status(status),
            "StatusDetails": "Success" if step.skipped and started else details,
            "ResponseCode": 0 if step.skipped and started else inv.response_code,
            "Output": step.skipped if step.skipped and started else combined_output(inv),
            "StandardOutputUrl": "",
            "StandardErrorUrl": "",
            "OutputS3Region": command.extras["OutputS3Region"] or command.region,
            "OutputS3BucketName": command.extras["OutputS3BucketName"],
            "OutputS3KeyPrefix": command.extras["OutputS3KeyPrefix"],
        }
        if started is not None:
            view["ResponseStartDateTime"] = utc(started)
        if inv.finished_at is not None and started is not None:
            view["ResponseFinishDateTime"] = utc(inv.finished_at if not step.skipped else started)
        plugins.append(view)
    return plugins


def _plugin_status(status: str) -> str:
    return status if status in ("Pending", "InProgress", "Success", "TimedOut", "Cancelled", "Failed") else "Failed"


def invocation_view(command: Command, inv: Invocation, now: float, details: bool) -> dict[str, Any]:
    status, status_details = inv.phase(now)
    return {
        "CommandId": command.command_id,
        "InstanceId": inv.instance_id,
        "InstanceName": inv.instance_name,
        "Comment": command.comment,
        "DocumentName": command.document_name,
        "DocumentVersion": command.document_version,
        "RequestedDateTime": utc(command.requested),
        "Status": status,
        "StatusDetails": status_details,
        "TraceOutput": "",
        "StandardOutputUrl": "",
        "StandardErrorUrl": "",
        "CommandPlugins": plugin_views(command, inv, now) if details else [],
        "ServiceRole": command.extras["ServiceRole"],
        "NotificationConfig": command.extras["NotificationConfig"],
        "CloudWatchOutputConfig": command.extras["CloudWatchOutputConfig"],
    }


def status_matches(value: str, status: tuple[str, str]) -> bool:
    """A Status filter matches the status or the detailed status ("TimedOut" covers both timeouts)."""
    return value in status


def command_filters(filters: list[dict[str, str]] | None, invocations: bool) -> Callable[[Command, Any, float], bool]:
    """A predicate for ListCommands / ListCommandInvocations Filters (all must hold)."""
    keys = {"InvokedAfter", "InvokedBefore", "Status", "DocumentName"} | (set() if invocations else {"ExecutionStage"})
    checks: list[Callable[[Command, Any, float], bool]] = []
    for item in filters or []:
        key, value = item.get("key") or item.get("Key"), str(item.get("value") or item.get("Value") or "")
        if key not in keys:
            raise ssm_error("InvalidFilterKey", f"The filter key {key} isn't valid.")
        checks.append(_filter_check(str(key), value))
    return lambda command, status, now: all(check(command, status, now) for check in checks)


def _filter_check(key: str, value: str) -> Callable[[Command, Any, float], bool]:
    if key == "InvokedAfter":
        after = parse_time(value)
        return lambda c, s, n: c.requested >= after
    if key == "InvokedBefore":
        before = parse_time(value)
        return lambda c, s, n: c.requested <= before
    if key == "DocumentName":
        return lambda c, s, n: c.document_name == value
    if key == "ExecutionStage":
        if value not in ("Executing", "Complete"):
            raise ssm_error("ValidationException", f"ExecutionStage must be Executing or Complete, not {value}.")
        return lambda c, s, n: (value == "Complete") == c.done
    return lambda c, s, n: status_matches(value, s)
