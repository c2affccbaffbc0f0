"""The Run Command API: SendCommand, ListCommands, ListCommandInvocations, GetCommandInvocation,
CancelCommand, with AWS's checks of targets, limits and parameters."""

from __future__ import annotations

import uuid
from typing import Any

from moto.core.responses import ActionResult

from asgpatch_sandbox.services.ssm_command_views import command_filters, command_view, invocation_view
from asgpatch_sandbox.services.ssm_commands import Command, Invocation, check_limit, end
from asgpatch_sandbox.services.ssm_common import (
    check_length,
    check_max,
    elapsed,
    invalid_instances,
    iso,
    page,
    paged,
    ssm_error,
)
from asgpatch_sandbox.services.ssm_documents import check_parameters, document_steps, find_document
from asgpatch_sandbox.services.ssm_nodes import instance_tags, managed_nodes, online_instance
from asgpatch_sandbox.services.ssm_run_command import SsmWorld
from asgpatch_sandbox.world import current, group_failure, instance_group

DEFAULT_DELIVERY_TIMEOUT = 3600
MAX_INSTANCE_IDS = 50
MAX_TARGETS = 5
STDOUT_LIMIT = 24000
STDERR_LIMIT = 8000


def _ssm_world() -> SsmWorld:
    return current().part(SsmWorld)


def _resolve_targets(self: Any, targets: list[dict[str, Any]], now: float) -> list[Any]:
    """Online managed nodes matching every target (AWS ANDs target keys); named ids must be Online."""
    check_length("targets", targets, MAX_TARGETS)
    chosen: dict[str, Any] | None = None
    for target in targets:
        key, values = str(target.get("Key", "")), [str(v) for v in target.get("Values") or []]
        matched = {i.id: i for i in _target_matches(self, key, values, now)}
        chosen = matched if chosen is None else {i: chosen[i] for i in chosen if i in matched}
    return list((chosen or {}).values())


def _target_matches(self: Any, key: str, values: list[str], now: float) -> list[Any]:
    if key == "InstanceIds":
        return _named_instances(self, values, now)
    if not (key.startswith("tag:") or key == "tag-key"):
        raise ssm_error("InvalidParameters", f"Target key {key} isn't supported: use InstanceIds or tag:<key>.")
    ec2_backend = current().ec2(self.region)
    found = []
    for instance, status, _ in managed_nodes(current(), ec2_backend, now):
        tags = instance_tags(ec2_backend, instance.id)
        name = key[4:] if key.startswith("tag:") else None
        hit = tags.get(name) in values if name is not None else bool(set(values) & set(tags))
        if status == "Online" and hit:
            found.append(instance)
    return found


def _named_instances(self: Any, ids: list[str], now: float) -> list[Any]:
    check_length("instanceIds", ids, MAX_INSTANCE_IDS)
    world = current()
    ec2_backend = current().ec2(self.region)
    unique = list(dict.fromkeys(ids))
    found = {i: online_instance(world, ec2_backend, i, now) for i in unique}
    bad = [i for i, instance in found.items() if instance is None]
    if bad:
        raise invalid_instances(bad, world.account_id)
    return [found[i] for i in unique]


def _command_extras(self: Any) -> dict[str, Any]:
    return {
        "OutputS3Region": self._get_param("OutputS3Region") or "",
        "OutputS3BucketName": self._get_param("OutputS3BucketName") or "",
        "OutputS3KeyPrefix": self._get_param("OutputS3KeyPrefix") or "",
        "ServiceRole": self._get_param("ServiceRoleArn") or "",
        "NotificationConfig": self._get_param("NotificationConfig")
        or {"NotificationArn": "", "NotificationEvents": [], "NotificationType": ""},
        "CloudWatchOutputConfig": self._get_param("CloudWatchOutputConfig")
        or {"CloudWatchLogGroupName": "", "CloudWatchOutputEnabled": False},
    }


def _checked_request(self: Any) -> tuple[Any, dict[str, list[str]], int, str, str, str]:
    comment = self._get_param("Comment") or ""
    check_length("comment", comment, 100)
    timeout = self._get_int_param("TimeoutSeconds") or DEFAULT_DELIVERY_TIMEOUT
    check_max("timeoutSeconds", timeout, 2592000)
    concurrency = str(self._get_param("MaxConcurrency") or "50")
    errors = str(self._get_param("MaxErrors") or "0")
    check_limit("maxConcurrency", concurrency)
    check_limit("maxErrors", errors)
    name = self._get_param("DocumentName") or ""
    document = find_document(current().ssm(self.region), name, self._get_param("DocumentVersion"))
    parameters = self._get_param("Parameters") or {}
    check_parameters(document, parameters)
    return document, parameters, timeout, comment, concurrency, errors


def send_command(self: Any) -> ActionResult:
    world = current()
    now = world.clock.now()
    document, parameters, timeout, comment, concurrency, errors = _checked_request(self)
    instance_ids = self._get_param("InstanceIds") or []
    targets = self._get_param("Targets") or []
    if bool(instance_ids) == bool(targets):
        raise ssm_error("ValidationException", "Specify either InstanceIds or Targets, not both or neither.")
    instances = _named_instances(self, instance_ids, now) if instance_ids else _resolve_targets(self, targets, now)
    command = Command(
        command_id=str(uuid.uuid4()),
        region=self.region,
        document=document,
        document_version=self._get_param("DocumentVersion") or "$DEFAULT",
        parameters=parameters,
        requested=now,
        comment=comment,
        instance_ids=list(dict.fromkeys(instance_ids)),
        targets=targets,
        timeout_seconds=timeout,
        max_concurrency=concurrency,
        max_errors=errors,
        extras=_command_extras(self),
    )
    for instance in instances:
        fault = group_failure(instance_group(instance), "patch")
        command.invocations.append(Invocation(instance, instance.private_dns_name, fault))
    ssm_world = _ssm_world()
    store = ssm_world.store(self.region)
    store.commands[command.command_id] = command
    store.active[command.command_id] = command
    ssm_world.dispatch(command, now)
    return ActionResult({"Command": command_view(command, now)})


def _command(self: Any, command_id: str | None) -> Command:
    command = _ssm_world().store(self.region).commands.get(command_id or "")
    if command is None:
        raise ssm_error("InvalidCommandId", "Invalid command id.")
    return command


def _newest_first(self: Any) -> list[Command]:
    return sorted(_ssm_world().store(self.region).commands.values(), key=lambda c: c.requested, reverse=True)


def list_commands(self: Any) -> ActionResult:
    now = current().clock.now()
    max_results = self._get_int_param("MaxResults")
    check_max("maxResults", max_results, 50)
    command_id, instance_id = self._get_param("CommandId"), self._get_param("InstanceId")
    wanted = command_filters(self._get_param("Filters"), invocations=False)
    commands = [_command(self, command_id)] if command_id else _newest_first(self)
    if instance_id:
        commands = [c for c in commands if c.invocation(instance_id) is not None]
    rows = [command_view(c, now) for c in commands if wanted(c, c.status(now), now)]
    items, token = page(rows, self._get_param("NextToken"), max_results or 50, "commands")
    return paged("Commands", items, token)


def list_command_invocations(self: Any) -> ActionResult:
    now = current().clock.now()
    max_results = self._get_int_param("MaxResults")
    check_max("maxResults", max_results, 50)
    command_id, instance_id = self._get_param("CommandId"), self._get_param("InstanceId")
    details = bool(self._get_param("Details"))
    wanted = command_filters(self._get_param("Filters"), invocations=True)
    commands = [_command(self, command_id)] if command_id else _newest_first(self)
    rows = [
        invocation_view(c, inv, now, details)
        for c in commands
        for inv in c.invocations
        if (not instance_id or inv.instance_id == instance_id) and wanted(c, inv.phase(now), now)
    ]
    items, token = page(rows, self._get_param("NextToken"), max_results or 50, "command-invocations")
    return paged("CommandInvocations", items, token)


def get_command_invocation(self: Any) -> ActionResult:
    now = current().clock.now()
    command = _command(self, self._get_param("CommandId"))
    instance_id = self._get_param("InstanceId")
    inv = command.invocation(instance_id)
    if inv is None:
        raise ssm_error("InvocationDoesNotExist", f"Command {command.command_id} has no invocation on {instance_id}.")
    steps = document_steps(command.document)
    plugin_name = self._get_param("PluginName")
    step = next((s for s in steps if s.name == plugin_name), None)
    if plugin_name and step is None:
        raise ssm_error("InvalidPluginName", f"The plugin name {plugin_name} isn't valid.")
    status, details = inv.phase(now)
    started = inv.start_at if inv.start_at is not None and inv.start_at <= now else None
    stdout, stderr, code = inv.stdout, inv.stderr, inv.response_code
    if step is not None and step.skipped and started is not None:
        status, details, stdout, stderr, code = "Success", "Success", step.skipped, "", 0
    running = step or next((s for s in steps if not s.skipped), steps[0])
    return ActionResult(
        {
            "CommandId": command.command_id,
            "InstanceId": inv.instance_id,
            "Comment": command.comment,
            "DocumentName": command.document_name,
            "DocumentVersion": command.document_version,
            "PluginName": running.name,
            "ResponseCode": code,
            "ExecutionStartDateTime": iso(started),
            "ExecutionElapsedTime": elapsed(started, inv.finished_at if started is not None else None),
            "ExecutionEndDateTime": iso(inv.finished_at if started is not None else None),
            "Status": status,
            "StatusDetails": details,
            "StandardOutputContent": stdout[:STDOUT_LIMIT],
            "StandardOutputUrl": "",
            "StandardErrorContent": stderr[:STDERR_LIMIT],
            "StandardErrorUrl": "",
            "CloudWatchOutputConfig": command.extras["CloudWatchOutputConfig"],
        }
    )


def cancel_command(self: Any) -> ActionResult:
    """Pending and running invocations stop at once (AWS passes through Cancelling briefly)."""
    now = current().clock.now()
    command = _command(self, self._get_param("CommandId"))
    instance_ids = self._get_param("InstanceIds") or []
    check_length("instanceIds", instance_ids, MAX_INSTANCE_IDS)
    unknown = [i for i in instance_ids if command.invocation(i) is None]
    if unknown:
        raise invalid_instances(unknown, current().account_id)
    chosen = [command.invocation(i) for i in instance_ids] if instance_ids else command.invocations
    for inv in chosen:
        if inv is not None and inv.final is None:
            end(inv, ("Cancelled", "Cancelled"), now, -1)
    if not instance_ids:
        command.cancelled = True
    _ssm_world().dispatch(command, now)
    return ActionResult({})
