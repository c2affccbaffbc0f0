"""`asgpatch deploy`: the zip uploaded under its content hash, then the stack created or updated through a
change set that is shown before it is executed, and followed to its end.

The order keeps "nothing changed" true whenever it can be: parameters are checked before any call;
a dry run uploads nothing and deletes the change set it made (and the empty stack a first change set
leaves in REVIEW_IN_PROGRESS); a change set with no changes is deleted and reported as "no changes";
a stack busy with another operation is refused before anything is made. `api` is aws/stacks.StackApi
(or a test's stand-in), `sleep` and `say` are injected so the flow runs without waiting or printing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from asgpatch.aws.stacks import NO_CHANGES
from asgpatch.stack.package import Package
from asgpatch.stack.parameters import PARAMETERS
from asgpatch.stack.template import render, template

DONE = ("CREATE_COMPLETE", "UPDATE_COMPLETE")
FAILED_ENDS = ("CREATE_FAILED", "ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "UPDATE_ROLLBACK_COMPLETE",
               "UPDATE_ROLLBACK_FAILED", "DELETE_COMPLETE", "DELETE_FAILED", "UPDATE_FAILED")  # fmt: skip
NOT_UPDATABLE = ("ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "DELETE_FAILED", "UPDATE_ROLLBACK_FAILED")
POLL_SECONDS = 2.0
WAIT_LIMIT = 3600.0  # seconds a stack operation may take before deploy gives up following it


class DeployRefused(Exception):
    """Bad input or a stack in no state to deploy to: nothing was changed (exit 2)."""


class DeployFailed(Exception):
    """The change set or the stack failed (exit 1); `reasons` name the failing resources."""

    def __init__(self, message: str, reasons: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.reasons = reasons


@dataclass
class Deployed:
    stack: str
    status: str  # CREATE_COMPLETE, UPDATE_COMPLETE, NO_CHANGES, DRY_RUN
    code: dict[str, str]
    changes: list[dict[str, Any]] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"stack": self.stack, "status": self.status, "code": self.code, "changes": self.changes,
                "outputs": self.outputs}  # fmt: skip


def artifact_bucket(account: str, region: str) -> str:
    return f"asgpatch-artifacts-{account}-{region}"


def change_rows(change_set: Mapping[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for change in change_set.get("Changes") or []:
        resource = change.get("ResourceChange") or {}
        rows.append({"action": resource.get("Action"), "logical_id": resource.get("LogicalResourceId"),
                     "type": resource.get("ResourceType"), "replacement": resource.get("Replacement")})  # fmt: skip
    return rows


def _parameters(given: Mapping[str, str], existing: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """Given values; for an update, every other parameter the stack has keeps its value (as `aws
    cloudformation deploy` does), and new ones take the template's default."""
    had = {p["ParameterKey"] for p in (existing or {}).get("Parameters") or []}
    listed: list[dict[str, Any]] = [{"ParameterKey": k, "ParameterValue": v} for k, v in given.items()]
    listed += [{"ParameterKey": k, "UsePreviousValue": True} for k in PARAMETERS if k not in given and k in had]
    return listed


def _wait_change_set(api: Any, change_set_id: str, sleep: Callable[[float], None]) -> dict[str, Any]:
    waited = 0.0
    while True:
        found = api.change_set(change_set_id)
        if found.get("Status") in ("CREATE_COMPLETE", "FAILED", "DELETE_COMPLETE"):
            return dict(found)
        if waited > WAIT_LIMIT:
            raise DeployFailed(f"change set {change_set_id} still {found.get('Status')} after {WAIT_LIMIT:.0f} s")
        sleep(POLL_SECONDS)
        waited += POLL_SECONDS


def _follow(api: Any, name: str, seen: set[str], sleep: Callable[[float], None], say: Callable[[str], None]) -> str:
    """Print each new stack event until the stack reaches an end; its final status."""
    waited = 0.0
    while True:
        for event in reversed(api.events(name)):
            if event.get("EventId") not in seen:
                seen.add(str(event.get("EventId")))
                reason = f" {event['ResourceStatusReason']}" if event.get("ResourceStatusReason") else ""
                say(f"{event.get('LogicalResourceId')} {event.get('ResourceStatus')}{reason}")
        stack = api.stack(name) or {}
        status = str(stack.get("StackStatus") or "DELETE_COMPLETE")
        if status in DONE or status in FAILED_ENDS:
            return status
        if waited > WAIT_LIMIT:
            raise DeployFailed(f"stack {name} still {status} after {WAIT_LIMIT:.0f} s; follow it in the console")
        sleep(POLL_SECONDS)
        waited += POLL_SECONDS


def _failures(api: Any, name: str) -> tuple[str, ...]:
    return tuple(f"{e.get('LogicalResourceId')} ({e.get('ResourceType')}): {e.get('ResourceStatusReason')}"
                 for e in api.events(name) if str(e.get("ResourceStatus", "")).endswith("FAILED"))  # fmt: skip


def deploy(api: Any, name: str, given: Mapping[str, str], package: Package, bucket: str | None = None,
           dry_run: bool = False, sleep: Callable[[float], None] = time.sleep,
           say: Callable[[str], None] = print, stamp: Callable[[], float] = time.time) -> Deployed:  # fmt: skip
    existing = api.stack(name)
    status = str((existing or {}).get("StackStatus") or "")
    if status.endswith("_IN_PROGRESS") and status != "REVIEW_IN_PROGRESS":
        raise DeployRefused(f"stack {name} is {status}: wait for it to finish, then deploy again")
    if status in NOT_UPDATABLE:
        raise DeployRefused(f"stack {name} is {status} and cannot be updated: delete it, then deploy again")
    values = dict(given)
    if "CodeS3Bucket" in values or "CodeS3Key" in values:
        if not (values.get("CodeS3Bucket") and values.get("CodeS3Key")):
            raise DeployRefused("give both CodeS3Bucket and CodeS3Key, or neither (deploy uploads the zip itself)")
        code = {"bucket": values["CodeS3Bucket"], "key": values["CodeS3Key"]}
    else:
        code = {"bucket": bucket or artifact_bucket(api.account(), api.region), "key": package.key}
        values.update(CodeS3Bucket=code["bucket"], CodeS3Key=code["key"])
        if not dry_run:
            if not api.bucket_exists(code["bucket"]):
                say(f"creating the artifact bucket {code['bucket']}")
                api.create_bucket(code["bucket"])
            if not api.object_exists(code["bucket"], code["key"]):
                say(f"uploading the engine ({len(package.data) // 1024} KiB) to s3://{code['bucket']}/{code['key']}")
                api.upload(code["bucket"], code["key"], package.data)
    kind = "UPDATE" if existing and status != "REVIEW_IN_PROGRESS" else "CREATE"
    change_set_name = "asgpatch-" + time.strftime("%Y%m%d%H%M%S", time.gmtime(stamp()))
    change_set_id = api.create_change_set(name, change_set_name, kind, render(template()),
                                          _parameters(values, existing if kind == "UPDATE" else None))  # fmt: skip
    found = _wait_change_set(api, change_set_id, sleep)
    if found.get("Status") == "FAILED":
        reason = str(found.get("StatusReason") or "")
        if any(text in reason for text in NO_CHANGES):
            api.delete_change_set(change_set_id)
            _forget_review_stack(api, name, kind)
            return Deployed(name, "NO_CHANGES", code)
        raise DeployFailed(f"the change set for stack {name} failed: {reason}")
    changes = change_rows(found)
    say(f"change set {change_set_name} for stack {name} ({kind.lower()}): {len(changes)} changes")
    for change in changes:
        replacement = f" (replacement: {change['replacement']})" if change.get("replacement") else ""
        say(f"  {change['action']:<8} {change['logical_id']} {change['type']}{replacement}")
    if dry_run:
        api.delete_change_set(change_set_id)
        _forget_review_stack(api, name, kind)
        return Deployed(name, "DRY_RUN", code, changes)
    seen = {str(e.get("EventId")) for e in api.events(name)} if kind == "UPDATE" else set()
    api.execute(change_set_id)
    final = _follow(api, name, seen, sleep, say)
    if final not in DONE:
        raise DeployFailed(f"stack {name} ended {final}", _failures(api, name))
    outputs = {o["OutputKey"]: o["OutputValue"] for o in (api.stack(name) or {}).get("Outputs") or []}
    return Deployed(name, final, code, changes, outputs)


def _forget_review_stack(api: Any, name: str, kind: str) -> None:
    """A first change set leaves an empty stack in REVIEW_IN_PROGRESS: a deploy that made nothing removes it."""
    if kind == "CREATE":
        found = api.stack(name)
        if found and found.get("StackStatus") == "REVIEW_IN_PROGRESS":
            api.delete_stack(name)
