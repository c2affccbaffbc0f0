"""Systems Manager Run Command and Patch Manager as AWS behaves and moto does not.

- Managed nodes: a running EC2 instance with an instance profile registers with SSM (PingStatus
  `Online`) `ssm_seconds` after it became running; without a profile, or in a group tagged
  `sandbox:ssm=offline`, it never does. A stopped node shows `ConnectionLost`; a terminated one is gone.
- Documents: AWS-RunPatchBaseline and AWS-RunShellScript exist as AWS-owned documents beside the
  ones users create; SendCommand checks the document, its parameters and the targets like AWS does.
- Run Command: each targeted node gets an invocation that is Pending, then InProgress, and ends
  `patch_seconds` after the command was sent (MaxConcurrency and MaxErrors apply). Group tags
  `sandbox:patch=fail` / `sandbox:patch=hang` make every command on the group's instances fail / never
  finish (until cancelled or the execution timeout). A node terminated meanwhile is `Undeliverable`.
- Patch Manager: a successful AWS-RunPatchBaseline Install brings the node to the catalog's patch
  level; Scan and Install report compliance to DescribeInstancePatchStates / DescribeInstancePatches.

Commands live in the sandbox's own store (moto's Command gives every instance an invocation and
finishes at once); they are dropped with moto's backend when moto is reset.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from moto.core.responses import ActionResult
from moto.ec2.models import EC2Backend
from moto.ec2.models.instances import Instance as Ec2Instance
from moto.ssm import responses as ssm_responses
from moto.ssm.exceptions import SSMException
from moto.ssm.models import Document, Documents

from asgpatch.sandbox.patchlevel import instance_level, set_instance_level
from asgpatch.sandbox.world import RUNNING_SINCE, World, current, group_failure, instance_group

RUN_PATCH_BASELINE = "AWS-RunPatchBaseline"
RUN_SHELL_SCRIPT = "AWS-RunShellScript"
AMAZON_OWNER = "Amazon"
AGENT_VERSION = "3.3.1957.0"
PING_INTERVAL = 300.0  # the agent's heartbeat
DELIVERY_SECONDS = 1.0  # Pending -> InProgress
DEFAULT_EXECUTION_TIMEOUT = 3600
DEFAULT_DELIVERY_TIMEOUT = 3600
MAX_INSTANCE_IDS = 50
MAX_TARGETS = 5
PLATFORM = "Linux"
OPERATING_SYSTEM = "AMAZON_LINUX_2023"
STDOUT_LIMIT = 24000
STDERR_LIMIT = 8000
PLUGIN_OUTPUT_LIMIT = 2500

# Attributes the sandbox keeps on moto's EC2 instance objects (they vanish with them on reset).
LAST_PING = "sandbox_ssm_last_ping"
PATCH_STATE = "sandbox_patch_state"

GONE_STATES = ("shutting-down", "terminated")
PING_STATUSES = ("Online", "ConnectionLost", "Inactive")

# --- errors --------------------------------------------------------------------------------------


def ssm_error(code: str, message: str) -> SSMException:
    return SSMException(code, message)


def constraint_error(field_name: str, value: object, constraint: str) -> SSMException:
    """AWS's wording for a request that breaks the API model's limits (botocore checks only minimums)."""
    return ssm_error(
        "ValidationException",
        f"1 validation error detected: Value '{value}' at '{field_name}' failed to satisfy constraint: "
        f"Member must {constraint}",
    )


def invalid_instances(ids: Iterable[str], account_id: str) -> SSMException:
    return ssm_error(
        "InvalidInstanceId", f"Instances [[{', '.join(ids)}]] not in a valid state for account {account_id}"
    )


def check_max(field_name: str, value: int | None, limit: int) -> None:
    if value is not None and value > limit:
        raise constraint_error(field_name, value, f"have value less than or equal to {limit}")


def check_length(field_name: str, items: list[Any] | str | None, limit: int) -> None:
    if items is not None and len(items) > limit:
        raise constraint_error(field_name, items, f"have length less than or equal to {limit}")


# --- time ------------------------------------------------------------------------------------------


def utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


def iso(ts: float | None) -> str:
    """GetCommandInvocation reports times as ISO 8601 strings, empty when the step has not run."""
    if ts is None:
        return ""
    return utc(ts).strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc(ts).microsecond // 1000:03d}Z"


def elapsed(start: float | None, end: float | None) -> str:
    if start is None or end is None:
        return ""
    seconds = max(0.0, end - start)
    minutes, rest = divmod(seconds, 60)
    return f"PT{int(minutes)}M{rest:.3f}S" if minutes else f"PT{rest:.3f}S"


def parse_time(value: str) -> float:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError as error:
        raise ssm_error("ValidationException", f"Invalid timestamp '{value}' in a filter.") from error


# --- pagination ----------------------------------------------------------------------------------


def page(items: list[Any], token: str | None, size: int, kind: str) -> tuple[list[Any], str | None]:
    """One page of items and the opaque token for the next, as AWS list operations answer."""
    start = 0
    if token:
        try:
            prefix, _, offset = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
            start = int(offset)
        except (ValueError, UnicodeDecodeError) as error:
            raise ssm_error("InvalidNextToken", "The specified token isn't valid.") from error
        if prefix != kind or start < 0:
            raise ssm_error("InvalidNextToken", "The specified token isn't valid.")
    end = start + size
    following = base64.urlsafe_b64encode(f"{kind}:{end}".encode()).decode() if end < len(items) else None
    return items[start:end], following


# --- managed nodes -------------------------------------------------------------------------------


def instance_profile(ec2_backend: Any, instance: Any) -> str | None:
    """The instance profile the SSM agent gets its credentials from, if the instance has one."""
    name = getattr(instance, "sandbox_instance_profile", None)
    if name:
        return str(name)
    profile = getattr(instance, "iam_instance_profile", None)
    if isinstance(profile, dict) and (profile.get("Arn") or profile.get("Name")):
        return str(profile.get("Name") or profile["Arn"]).rsplit("/", 1)[-1]
    if isinstance(profile, str) and profile:
        return profile
    association = ec2_backend.iam_instance_profile_associations.get(instance.id)
    if association is not None:
        return str(association.iam_instance_profile.name)
    return None


def running_since(instance: Any, now: float) -> float | None:
    """Since when the instance is running; stamped at launch, start, or first sight."""
    if instance.state != "running":
        return None
    since = getattr(instance, RUNNING_SINCE, None)
    if since is None:
        since = now
        setattr(instance, RUNNING_SINCE, since)
    return float(since)


def online_since(world: World, ec2_backend: Any, instance: Any, now: float) -> float | None:
    """When the instance's agent registered, if it is Online now."""
    since = running_since(instance, now)
    if since is None or not instance_profile(ec2_backend, instance):
        return None
    if group_failure(instance_group(instance), "ssm") == "offline":
        return None
    registered = since + world.timings.ssm_seconds
    return registered if registered <= now else None


def last_ping(registered: float, now: float) -> float:
    beats = int((now - registered) // PING_INTERVAL)
    return registered + beats * PING_INTERVAL


def ping_status(world: World, ec2_backend: Any, instance: Any, now: float) -> tuple[str, float] | None:
    """(PingStatus, LastPingDateTime) of a managed node, None when SSM does not list the instance."""
    if instance.state in GONE_STATES:
        return None
    registered = online_since(world, ec2_backend, instance, now)
    if registered is not None:
        return "Online", last_ping(registered, now)
    lost = getattr(instance, LAST_PING, None)
    return ("ConnectionLost", float(lost)) if lost is not None else None


def instance_tags(ec2_backend: Any, instance_id: str) -> dict[str, str]:
    return dict(ec2_backend.tags.get(instance_id, {}))


def instance_information(instance: Any, status: str, pinged: float) -> dict[str, Any]:
    return {
        "InstanceId": instance.id,
        "PingStatus": status,
        "LastPingDateTime": utc(pinged),
        "AgentVersion": AGENT_VERSION,
        "IsLatestVersion": True,
        "PlatformType": PLATFORM,
        "PlatformName": "Amazon Linux",
        "PlatformVersion": "2023",
        "ResourceType": "EC2Instance",
        "IPAddress": instance.private_ip or "",
        "ComputerName": instance.private_dns_name,
        "AssociationStatus": "Success",
        "SourceId": instance.id,
        "SourceType": "AWS::EC2::Instance",
    }


def managed_nodes(world: World, ec2_backend: Any, now: float) -> list[tuple[Any, str, float]]:
    """Every instance SSM lists in a region, with its ping status, in launch order."""
    nodes = []
    for instance in ec2_backend.all_instances():
        status = ping_status(world, ec2_backend, instance, now)
        if status is not None:
            nodes.append((instance, status[0], status[1]))
    return nodes


def online_instance(world: World, ec2_backend: Any, instance_id: str, now: float) -> Any:
    instance = ec2_backend.get_instance_by_id(instance_id)
    if instance is None or online_since(world, ec2_backend, instance, now) is None:
        return None
    return instance


# --- keeping "running since" exact ---------------------------------------------------------------


def _wrap_run_instances(original: Callable[..., Any]) -> Callable[..., Any]:
    def run_instances(self: Any, *args: Any, **kwargs: Any) -> Any:
        reservation = original(self, *args, **kwargs)
        now = current().clock.now()
        for instance in reservation.instances:
            if instance.state == "running":
                setattr(instance, RUNNING_SINCE, now)
        return reservation

    return run_instances


def _wrap_start(original: Callable[..., Any]) -> Callable[..., Any]:
    def start(self: Any) -> Any:
        previous = original(self)
        setattr(self, RUNNING_SINCE, current().clock.now())
        return previous

    return start


def _wrap_stop(original: Callable[..., Any]) -> Callable[..., Any]:
    """A stopping node's agent falls silent: remember its last ping, so it shows ConnectionLost."""

    def stop(self: Any) -> Any:
        world = current()
        status = ping_status(world, self.ec2_backend, self, world.clock.now())
        if status is not None:
            setattr(self, LAST_PING, status[1])
        previous = original(self)
        setattr(self, RUNNING_SINCE, None)
        return previous

    return stop


# --- documents -----------------------------------------------------------------------------------

_PATCH_URL_PATTERN = r"(^$)|^https://.+$|^s3://([^/]+)/(.*?([^/]+))$"


def _patch_step(name: str, action: str, platform: str) -> dict[str, Any]:
    return {
        "precondition": {"StringEquals": ["platformType", platform]},
        "action": action,
        "name": name,
        "timeoutSeconds": 7200,
        "inputs": {"runCommand": [f"# sandbox: {name} runs Patch Manager for the {platform} node"]},
    }


AWS_DOCUMENTS: dict[str, dict[str, Any]] = {
    RUN_PATCH_BASELINE: {
        "schemaVersion": "2.2",
        "description": "Scans for or installs patches from a patch baseline to a Linux, Windows, or macOS "
        "managed node.",
        "parameters": {
            "Operation": {
                "type": "String",
                "description": "(Required) The update or configuration to perform on the instance. The "
                "system checks if patches specified in the patch baseline are installed on the instance. "
                "The install operation installs patches missing from the baseline.",
                "allowedValues": ["Scan", "Install"],
            },
            "SnapshotId": {
                "type": "String",
                "description": "(Optional) The snapshot ID to use to retrieve a patch baseline snapshot.",
                "default": "",
                "allowedPattern": "(^$)|^[a-zA-Z0-9]{8}-[a-zA-Z0-9]{4}-[a-zA-Z0-9]{4}-[a-zA-Z0-9]{4}-[a-zA-Z0-9]{12}$",
            },
            "InstallOverrideList": {
                "type": "String",
                "description": "(Optional) An https URL or an Amazon S3 path-style URL to a list of patches "
                "to be installed. This patch installation list overrides the patches specified by the "
                "default patch baseline.",
                "default": "",
                "allowedPattern": _PATCH_URL_PATTERN,
            },
            "BaselineOverride": {
                "type": "String",
                "description": "(Optional) An https URL or an Amazon S3 path-style URL to a list of baseline objects.",
                "default": "",
                "allowedPattern": _PATCH_URL_PATTERN,
            },
            "RebootOption": {
                "type": "String",
                "description": "(Optional) Reboot behavior after a patch Install operation. If you choose "
                "NoReboot and patches are installed, the instance is marked as non-compliant until a "
                "subsequent reboot and scan.",
                "allowedValues": ["RebootIfNeeded", "NoReboot"],
                "default": "RebootIfNeeded",
            },
        },
        "mainSteps": [
            _patch_step("PatchWindows", "aws:runPowerShellScript", "Windows"),
            _patch_step("PatchLinux", "aws:runShellScript", "Linux"),
            _patch_step("PatchMacOS", "aws:runShellScript", "MacOS"),
        ],
    },
    RUN_SHELL_SCRIPT: {
        "schemaVersion": "1.2",
        "description": "Run a shell script or specify the commands to run.",
        "parameters": {
            "commands": {
                "type": "StringList",
                "description": "(Required) Specify a shell script or a command to run.",
                "minItems": 1,
                "displayType": "textarea",
            },
            "workingDirectory": {
                "type": "String",
                "default": "",
                "description": "(Optional) The path to the working directory on your instance.",
                "maxChars": 4096,
            },
            "executionTimeout": {
                "type": "String",
                "default": "3600",
                "description": "(Optional) The time in seconds for a command to complete before it is "
                "considered to have failed. Default is 3600 (1 hour). Maximum is 172800 (48 hours).",
                "allowedPattern": "([1-9][0-9]{0,4})|(1[0-6][0-9]{4})|(17[0-1][0-9]{3})|(172[0-7][0-9]{2})|(172800)",
            },
        },
        "runtimeConfig": {
            "aws:runShellScript": {
                "properties": [
                    {
                        "id": "0.aws:runShellScript",
                        "runCommand": "{{ commands }}",
                        "workingDirectory": "{{ workingDirectory }}",
                        "timeoutSeconds": "{{ executionTimeout }}",
                    }
                ]
            }
        },
    },
}

_PLATFORMS = {RUN_PATCH_BASELINE: ["Windows", "Linux", "MacOS"], RUN_SHELL_SCRIPT: ["Linux", "MacOS"]}


def ensure_aws_documents(ssm_backend: Any) -> None:
    """Put the AWS-owned documents into a (possibly freshly reset) moto backend, so that
    DescribeDocument, GetDocument and ListDocuments know them too."""
    for name, content in AWS_DOCUMENTS.items():
        if name in ssm_backend._documents:
            continue
        document = Document(  # type: ignore[abstract]
            account_id=AMAZON_OWNER,
            name=name,
            version_name=None,  # type: ignore[arg-type]
            content=json.dumps(content, indent=2),
            document_type="Command",
            document_format="JSON",
            requires=[],
            attachments=[],
            target_type="/AWS::EC2::Instance",
        )
        document.platform_types = _PLATFORMS[name]
        ssm_backend._documents[name] = Documents(document)


def find_document(ssm_backend: Any, name: str, version: str | None) -> Any:
    ensure_aws_documents(ssm_backend)
    documents = ssm_backend._documents.get(name.rsplit("/", 1)[-1] if name.startswith("arn:") else name)
    if documents is None:
        raise ssm_error("InvalidDocument", "Document with that name does not exist.")
    default = version in (None, "", "$DEFAULT")
    document = documents.get_default_version() if default else documents.find(document_version=version, strict=False)
    if document is None:
        raise ssm_error("InvalidDocumentVersion", "The document version is not valid or does not exist.")
    if document.document_type != "Command":
        raise ssm_error("InvalidDocument", f"{name} is not a Command document.")
    return document


def check_parameters(document: Any, given: dict[str, list[str]]) -> None:
    """What AWS checks before it accepts a command: known names, required ones, allowed values."""
    declared: dict[str, Any] = document.content_json.get("parameters") or {}
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise ssm_error("InvalidParameters", f"document {document.name} does not support parameters {unknown}.")
    for name, spec in declared.items():
        values = given.get(name)
        if values is None:
            if "default" not in spec:
                raise ssm_error("InvalidParameters", f'Parameter "{name}" is required but was not provided.')
            continue
        _check_values(name, spec, values)


def _check_values(name: str, spec: dict[str, Any], values: list[str]) -> None:
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise ssm_error("InvalidParameters", f'Parameter "{name}" must be a list of strings.')
    if spec.get("type") == "String" and len(values) != 1:
        raise ssm_error("InvalidParameters", f'Parameter "{name}" is a String: give exactly one value.')
    if len(values) < int(spec.get("minItems", 0)):
        raise ssm_error("InvalidParameters", f'Parameter "{name}" needs at least {spec["minItems"]} value(s).')
    allowed = spec.get("allowedValues")
    pattern = spec.get("allowedPattern")
    for value in values:
        if allowed and value not in allowed:
            raise ssm_error(
                "InvalidParameters",
                f'Parameter "{name}" has value "{value}" not in {{{", ".join(allowed)}}}.',
            )
        if pattern and not re.fullmatch(pattern, value):
            raise ssm_error(
                "InvalidParameters",
                f'Parameter "{name}" "{value}" failed to satisfy constraint: allowedPattern={pattern}',
            )


@dataclass(frozen=True)
class Step:
    name: str
    skipped: str = ""  # why the step does not run on a Linux node


def document_steps(document: Any) -> list[Step]:
    """The plugins (schema 1.2) or steps (2.x) a document runs, and which a Linux node skips."""
    content = document.content_json
    if "runtimeConfig" in content:
        return [Step(str(name)) for name in content["runtimeConfig"]]
    steps = []
    for step in content.get("mainSteps") or []:
        condition = (step.get("precondition") or {}).get("StringEquals") or []
        skipped = ""
        if len(condition) == 2 and condition[0] == "platformType" and condition[1] != PLATFORM:
            skipped = (
                "Step execution skipped due to unsatisfied preconditions: "
                f'\'"platformType" StringEquals "{condition[1]}"\'. Step name: {step.get("name")}'
            )
        steps.append(Step(str(step.get("name")), skipped))
    return steps or [Step("aws:runShellScript")]


def execution_timeout(document: Any, parameters: dict[str, list[str]]) -> float:
    content = document.content_json
    if "runtimeConfig" in content:
        declared = (content.get("parameters") or {}).get("executionTimeout") or {}
        value = (parameters.get("executionTimeout") or [declared.get("default", DEFAULT_EXECUTION_TIMEOUT)])[0]
        try:
            return float(value)
        except (TypeError, ValueError):
            return float(DEFAULT_EXECUTION_TIMEOUT)
    timeouts = [float(s.get("timeoutSeconds", DEFAULT_EXECUTION_TIMEOUT)) for s in content.get("mainSteps") or []]
    return max(timeouts, default=float(DEFAULT_EXECUTION_TIMEOUT))


# --- patch compliance ----------------------------------------------------------------------------


@dataclass
class PatchState:
    """The compliance a node reported after its latest Scan or Install."""

    instance_id: str
    operation: str
    reboot_option: str
    patch_group: str
    baseline_id: str
    snapshot_id: str
    start: float
    end: float
    installed: int  # patches 1..installed are on the node
    pending_reboot: int = 0  # the last `pending_reboot` of those await a reboot
    failed: int = 0  # the next ones failed to install
    missing: int = 0  # and the next ones are missing
    no_reboot_install: float | None = None

    def describe(self) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "InstanceId": self.instance_id,
            "PatchGroup": self.patch_group,
            "BaselineId": self.baseline_id,
            "SnapshotId": self.snapshot_id,
            "InstalledCount": self.installed - self.pending_reboot,
            "InstalledOtherCount": 0,
            "InstalledPendingRebootCount": self.pending_reboot,
            "InstalledRejectedCount": 0,
            "MissingCount": self.missing,
            "FailedCount": self.failed,
            "UnreportedNotApplicableCount": 0,
            "NotApplicableCount": 0,
            "OperationStartTime": utc(self.start),
            "OperationEndTime": utc(self.end),
            "Operation": self.operation,
            "RebootOption": self.reboot_option,
            "CriticalNonCompliantCount": 0,
            "SecurityNonCompliantCount": self.missing + self.failed + self.pending_reboot,
            "OtherNonCompliantCount": 0,
        }
        if self.no_reboot_install is not None:
            answer["LastNoRebootInstallOperationTime"] = utc(self.no_reboot_install)
        return answer

    def patches(self) -> list[dict[str, Any]]:
        rows = []
        for number in range(1, self.installed + self.failed + self.missing + 1):
            if number <= self.installed - self.pending_reboot:
                state, when = "Installed", self.end
            elif number <= self.installed:
                state, when = "InstalledPendingReboot", self.end
            elif number <= self.installed + self.failed:
                state, when = "Failed", 0.0
            else:
                state, when = "Missing", 0.0
            rows.append(patch_row(number, state, when))
        return rows


def patch_name(number: int) -> str:
    return f"ALAS2023-SANDBOX-{number:04d}"


def patch_row(number: int, state: str, installed_at: float) -> dict[str, Any]:
    return {
        "Title": patch_name(number),
        "KBId": patch_name(number),
        "Classification": "Security",
        "Severity": "Important",
        "State": state,
        "InstalledTime": utc(installed_at),
    }


def patch_group_of(ec2_backend: Any, instance_id: str) -> str:
    tags = instance_tags(ec2_backend, instance_id)
    return tags.get("Patch Group") or tags.get("PatchGroup") or ""


def baseline_for(ssm_backend: Any, patch_group: str) -> str:
    try:
        baseline, _group, _os = ssm_backend.get_patch_baseline_for_patch_group(patch_group, OPERATING_SYSTEM)
    except (KeyError, AttributeError):
        return ""
    return str(baseline).rsplit("/", 1)[-1]


# --- commands ------------------------------------------------------------------------------------


@dataclass
class Invocation:
    """One command on one node. Times are sandbox seconds; `final` is set once it ends."""

    instance: Any
    instance_name: str
    fault: str | None  # the group's sandbox:patch tag: "fail", "hang" or None
    start_at: float | None = None  # delivered to the agent (InProgress from then)
    end_at: float | None = None  # when the run will end, once started
    outcome: str = "Success"  # how it will end: Success, Failed, TimedOut
    level_before: int = 0
    level_target: int = 0
    final: tuple[str, str] | None = None  # (Status, StatusDetails)
    finished_at: float | None = None
    response_code: int = -1
    stdout: str = ""
    stderr: str = ""

    @property
    def instance_id(self) -> str:
        return str(self.instance.id)

    def phase(self, now: float) -> tuple[str, str]:
        if self.final is not None:
            return self.final
        if self.start_at is not None and self.start_at <= now:
            return "InProgress", "InProgress"
        return "Pending", "Pending"

    @property
    def started(self) -> bool:
        return self.start_at is not None

    @property
    def counts_as_error(self) -> bool:
        return self.final in (("Failed", "Failed"), ("TimedOut", "ExecutionTimedOut"))


@dataclass
class Command:
    command_id: str
    region: str
    document: Any
    document_version: str
    parameters: dict[str, list[str]]
    requested: float
    comment: str
    instance_ids: list[str]
    targets: list[dict[str, Any]]
    timeout_seconds: int
    max_concurrency: str
    max_errors: str
    extras: dict[str, Any]
    invocations: list[Invocation] = field(default_factory=list)
    cancelled: bool = False

    @property
    def document_name(self) -> str:
        return str(self.document.name)

    @property
    def concurrency(self) -> int:
        return max(1, _absolute(self.max_concurrency, len(self.invocations)))

    @property
    def error_limit(self) -> int:
        return _absolute(self.max_errors, len(self.invocations))

    @property
    def done(self) -> bool:
        return all(inv.final is not None for inv in self.invocations)

    def errors(self) -> int:
        return sum(1 for inv in self.invocations if inv.counts_as_error)

    def invocation(self, instance_id: str) -> Invocation | None:
        return next((inv for inv in self.invocations if inv.instance_id == instance_id), None)

    def status(self, now: float) -> tuple[str, str]:
        """The command's overall status, aggregated from its invocations as Run Command does."""
        if not self.invocations:
            return (
                ("Pending", "Pending") if now < self.requested + DELIVERY_SECONDS else ("Success", "NoInstancesInTag")
            )
        if not self.done:
            begun = any(inv.phase(now)[0] != "Pending" for inv in self.invocations)
            return ("InProgress", "InProgress") if begun else ("Pending", "Pending")
        if self.cancelled:
            return "Cancelled", "Cancelled"
        return self._terminal_status()

    def _terminal_status(self) -> tuple[str, str]:
        finals = [inv.final for inv in self.invocations if inv.final is not None]
        if self.errors() > self.error_limit:
            timeouts = sum(1 for f in finals if f == ("TimedOut", "ExecutionTimedOut"))
            return ("TimedOut", "ExecutionTimedOut") if timeouts == self.errors() else ("Failed", "Failed")
        delivery_timeouts = sum(1 for f in finals if f == ("TimedOut", "DeliveryTimedOut"))
        if delivery_timeouts > self.error_limit:
            return "TimedOut", "DeliveryTimedOut"
        counted = [f for f in finals if f != ("Failed", "Undeliverable")]
        if not counted:
            return "Failed", "Failed"
        if all(f == ("Success", "Success") for f in counted):
            return "Success", "Success"
        return "Failed", "Incomplete"


def _absolute(limit: str, total: int) -> int:
    """MaxConcurrency / MaxErrors as a number of nodes ("10" or "10%" of the targets)."""
    if limit.endswith("%"):
        return int(total * int(limit[:-1]) / 100)
    return int(limit)


LIMIT_PATTERNS = {
    "maxConcurrency": r"([1-9][0-9]*|[1-9][0-9]%|[1-9]%|100%)",
    "maxErrors": r"([1-9][0-9]*|[0]|[1-9][0-9]%|[0-9]%|100%)",
}


def check_limit(field_name: str, value: str) -> None:
    pattern = LIMIT_PATTERNS[field_name]
    if len(value) > 7 or not re.fullmatch(pattern, value):
        raise constraint_error(field_name, value, f"satisfy regular expression pattern: ^{pattern}$")


@dataclass
class CommandStore:
    """The commands of one region, tied to the moto SSM backend they were sent to."""

    backend: Any
    commands: dict[str, Command] = field(default_factory=dict)
    active: dict[str, Command] = field(default_factory=dict)


@dataclass
class SsmWorld:
    world: World
    stores: dict[str, CommandStore] = field(default_factory=dict)

    def store(self, region: str) -> CommandStore:
        """The region's command store; a new one after moto was reset (its backend replaced)."""
        backend = self.world.ssm(region)
        store = self.stores.get(region)
        if store is None or store.backend is not backend:
            store = self.stores[region] = CommandStore(backend)
        return store

    def advance(self, region: str, now: float) -> None:
        try:
            store = self.store(region)
        except KeyError:  # a signed request named a region moto does not know: nothing runs there
            return
        ensure_aws_documents(store.backend)
        for command in list(store.active.values()):
            self.run(command, now)
            if command.done:
                del store.active[command.command_id]

    # the life of a command ------------------------------------------------------------------
    def run(self, command: Command, now: float) -> None:
        """Replay what happened to the command up to `now`, event by event in time order, so that
        slots freed by finished runs start the next ones at the right moment. A node that is gone
        now left before its run could end (instances only change during requests, each preceded
        by an advance), so its invocation is Undeliverable whatever the clock says."""
        for inv in command.invocations:
            if inv.final is None and inv.instance.state != "running":
                end(inv, ("Failed", "Undeliverable"), now, -1, stderr="The managed node is no longer available.")
        while True:
            due = [i for i in command.invocations if i.final is None and i.end_at is not None and i.end_at <= now]
            if not due:
                break
            first = min(due, key=lambda i: i.end_at or 0.0)
            at = float(first.end_at or now)
            self.finish(command, first, at)
            self.dispatch(command, at)
        self.dispatch(command, now)

    def dispatch(self, command: Command, at: float) -> None:
        """Hand waiting invocations to free slots, or stop sending once MaxErrors is exceeded."""
        waiting = [i for i in command.invocations if i.final is None and not i.started]
        stop = command.errors() > command.error_limit
        deadline = command.requested + command.timeout_seconds
        for inv in waiting:
            if stop:
                end(inv, ("Cancelled", "Terminated"), at, -1)
            elif at >= deadline:
                end(inv, ("TimedOut", "DeliveryTimedOut"), deadline, -1)
        running = sum(1 for i in command.invocations if i.final is None and i.started)
        for inv in [i for i in waiting if i.final is None][: max(0, command.concurrency - running)]:
            self.start(command, inv, at)

    def start(self, command: Command, inv: Invocation, at: float) -> None:
        timings = self.world.timings
        delivery = min(DELIVERY_SECONDS, timings.patch_seconds / 10)
        inv.start_at = at + delivery
        limit = execution_timeout(command.document, command.parameters)
        duration = max(0.0, timings.patch_seconds - delivery)
        if inv.fault == "hang" or duration > limit:
            inv.end_at, inv.outcome = inv.start_at + limit, "TimedOut"
        else:
            inv.end_at, inv.outcome = inv.start_at + duration, "Failed" if inv.fault == "fail" else "Success"
        ec2_backend = self.world.ec2(command.region)
        inv.level_before = instance_level(ec2_backend, inv.instance)
        inv.level_target = int(self.world.patches.level)  # type: ignore[attr-defined]

    def finish(self, command: Command, inv: Invocation, at: float) -> None:
        if inv.outcome == "TimedOut":
            end(inv, ("TimedOut", "ExecutionTimedOut"), at, -1, stderr="Command execution timed out.")
            return
        failed = inv.outcome == "Failed"
        stdout, stderr = "", ""
        if failed:
            group = instance_group(inv.instance)
            name = group.name if group is not None else "?"
            stderr = f"The sandbox failed this command: Auto Scaling group {name} has the tag sandbox:patch=fail."
        if command.document_name == RUN_PATCH_BASELINE:
            stdout = self.patch(command, inv, at, failed)
        end(inv, ("Failed", "Failed") if failed else ("Success", "Success"), at, 1 if failed else 0, stdout, stderr)

    def patch(self, command: Command, inv: Invocation, at: float, failed: bool) -> str:
        """Apply AWS-RunPatchBaseline to the node and record its compliance; returns the output."""
        operation = command.parameters.get("Operation", ["Scan"])[0]
        reboot = command.parameters.get("RebootOption", ["RebootIfNeeded"])[0]
        snapshot = command.parameters.get("SnapshotId", [""])[0] or str(uuid.uuid4())
        ec2_backend = self.world.ec2(command.region)
        group_name = patch_group_of(ec2_backend, inv.instance_id)
        missing = max(0, inv.level_target - inv.level_before)
        previous: PatchState | None = getattr(inv.instance, PATCH_STATE, None)
        state = PatchState(
            instance_id=inv.instance_id,
            operation=operation,
            reboot_option=reboot,
            patch_group=group_name,
            baseline_id=baseline_for(self.world.ssm(command.region), group_name),
            snapshot_id=snapshot,
            start=inv.start_at or at,
            end=at,
            installed=inv.level_before,
            no_reboot_install=previous.no_reboot_install if previous else None,
        )
        if operation == "Scan" and failed:
            return patch_output(state, missing, failed)  # a failed scan reports no compliance
        if operation == "Scan":
            state.missing = missing
            state.pending_reboot = min(previous.pending_reboot, inv.level_before) if previous else 0
        elif failed:
            state.failed = missing
        else:
            set_instance_level(inv.instance, inv.level_target)
            state.installed = inv.level_target
            if reboot == "NoReboot":
                state.pending_reboot, state.no_reboot_install = missing, at
        setattr(inv.instance, PATCH_STATE, state)
        return patch_output(state, missing, failed)


def end(inv: Invocation, final: tuple[str, str], at: float, code: int, stdout: str = "", stderr: str = "") -> None:
    inv.final, inv.finished_at, inv.response_code = final, at, code
    inv.stdout, inv.stderr = stdout, stderr


def patch_output(state: PatchState, missing: int, failed: bool) -> str:
    lines = [
        f"Patch group: {state.patch_group or '(none)'}; baseline: {state.baseline_id}; snapshot: {state.snapshot_id}",
        f"Operation: {state.operation}; reboot option: {state.reboot_option}",
        f"Found {missing} missing patches.",
    ]
    if state.operation == "Scan":
        lines.append("Scan only: nothing was installed.")
    elif failed:
        lines.append(f"Installed 0 patches; {missing} failed to install.")
    else:
        lines.append(f"Installed {missing} patches.")
        if missing and state.reboot_option == "RebootIfNeeded":
            lines.append("Rebooting the node to finish the installation.")
    return "\n".join(lines) + "\n"


# --- views ---------------------------------------------------------------------------------------


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


# --- request handlers ----------------------------------------------------------------------------


def _ssm_world() -> SsmWorld:
    return current().ssm_world  # type: ignore[attr-defined]


def _ec2(self: Any) -> Any:
    return current().ec2(self.region)


INFORMATION_FILTER_KEYS = {
    "InstanceIds",
    "AgentVersion",
    "PingStatus",
    "PlatformTypes",
    "ActivationIds",
    "IamRole",
    "ResourceType",
    "AssociationStatus",
    "SourceIds",
    "SourceTypes",
}


def _information_filters(self: Any) -> list[tuple[str, list[str]]]:
    legacy = self._get_param("InstanceInformationFilterList") or []
    filters = self._get_param("Filters") or []
    if legacy and filters:
        raise ssm_error("ValidationException", "InstanceInformationFilterList and Filters can't be used together.")
    pairs = [(str(f.get("key")), list(f.get("valueSet") or [])) for f in legacy]
    pairs += [(str(f.get("Key")), list(f.get("Values") or [])) for f in filters]
    for key, values in pairs:
        tag_key = key.startswith("tag:") or key == "tag-key"
        if key not in INFORMATION_FILTER_KEYS and not (tag_key and filters):
            raise ssm_error("InvalidFilterKey", f"The filter key {key} isn't valid.")
        if key == "PingStatus" and not set(values) <= set(PING_STATUSES):
            raise ssm_error("InvalidInstanceInformationFilterValue", f"The filter values {values} aren't valid.")
    return pairs


def _information_value(info: dict[str, Any], tags: dict[str, str], key: str) -> list[str]:
    if key.startswith("tag:"):
        name = key[4:]
        return [tags[name]] if name in tags else []
    fields = {
        "InstanceIds": "InstanceId",
        "PlatformTypes": "PlatformType",
        "SourceIds": "SourceId",
        "SourceTypes": "SourceType",
    }
    if key == "tag-key":
        return list(tags)
    value = info.get(fields.get(key, key))
    return [str(value)] if value is not None else []


def describe_instance_information(self: Any) -> ActionResult:
    world = current()
    max_results = self._get_int_param("MaxResults")
    check_max("maxResults", max_results, 50)
    filters = _information_filters(self)
    ec2_backend = _ec2(self)
    rows = []
    for instance, status, pinged in managed_nodes(world, ec2_backend, world.clock.now()):
        tags = instance_tags(ec2_backend, instance.id)
        info = instance_information(instance, status, pinged)
        if all(set(_information_value(info, tags, key)) & set(values) for key, values in filters):
            rows.append(info)
    items, token = page(rows, self._get_param("NextToken"), max_results or 10, "instance-information")
    answer: dict[str, Any] = {"InstanceInformationList": items}
    if token:
        answer["NextToken"] = token
    return ActionResult(answer)


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
    ec2_backend = _ec2(self)
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
    ec2_backend = _ec2(self)
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
    answer: dict[str, Any] = {"Commands": items}
    if token:
        answer["NextToken"] = token
    return ActionResult(answer)


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
    answer: dict[str, Any] = {"CommandInvocations": items}
    if token:
        answer["NextToken"] = token
    return ActionResult(answer)


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


def _patch_state_ids(self: Any, limit: int) -> list[str]:
    ids = self._get_param("InstanceIds") or []
    check_length("instanceIds", ids, MAX_INSTANCE_IDS)
    max_results = self._get_int_param("MaxResults")
    check_max("maxResults", max_results, limit)
    return list(dict.fromkeys(ids))


def describe_instance_patch_states(self: Any) -> ActionResult:
    ec2_backend = _ec2(self)
    states = []
    for instance_id in _patch_state_ids(self, 100):
        instance = ec2_backend.get_instance_by_id(instance_id)
        state: PatchState | None = getattr(instance, PATCH_STATE, None) if instance is not None else None
        if state is not None:
            states.append(state.describe())
    items, token = page(states, self._get_param("NextToken"), self._get_int_param("MaxResults") or 10, "patch-states")
    answer: dict[str, Any] = {"InstancePatchStates": items}
    if token:
        answer["NextToken"] = token
    return ActionResult(answer)


PATCH_FILTER_KEYS = {"State": "State", "Classification": "Classification", "Severity": "Severity"}


def describe_instance_patches(self: Any) -> ActionResult:
    instance_id = self._get_param("InstanceId")
    max_results = self._get_int_param("MaxResults")
    check_max("maxResults", max_results, 100)
    instance = _ec2(self).get_instance_by_id(instance_id or "")
    if instance is None:
        raise invalid_instances([str(instance_id)], current().account_id)
    state: PatchState | None = getattr(instance, PATCH_STATE, None)
    rows = state.patches() if state is not None else []
    for item in self._get_param("Filters") or []:
        key, values = item.get("Key"), set(item.get("Values") or [])
        if key not in PATCH_FILTER_KEYS:
            raise ssm_error("InvalidFilter", f"The filter key {key} isn't valid.")
        rows = [r for r in rows if r[PATCH_FILTER_KEYS[key]] in values]
    items, token = page(rows, self._get_param("NextToken"), max_results or 10, "instance-patches")
    answer: dict[str, Any] = {"Patches": items}
    if token:
        answer["NextToken"] = token
    return ActionResult(answer)


# --- installation ---------------------------------------------------------------------------------

HANDLERS: dict[str, Callable[[Any], ActionResult]] = {
    "describe_instance_information": describe_instance_information,
    "send_command": send_command,
    "list_commands": list_commands,
    "list_command_invocations": list_command_invocations,
    "get_command_invocation": get_command_invocation,
    "cancel_command": cancel_command,
    "describe_instance_patch_states": describe_instance_patch_states,
    "describe_instance_patches": describe_instance_patches,
}


def _wrap_once(cls: type, name: str, wrapper: Callable[[Callable[..., Any]], Callable[..., Any]]) -> None:
    """Wrap a moto method, once per process even when several sandboxes are installed."""
    original = getattr(cls, name)
    if getattr(original, "_sandbox_ssm", False):
        return
    wrapped = wrapper(original)
    wrapped._sandbox_ssm = True  # type: ignore[attr-defined]
    setattr(cls, name, wrapped)


def install(world: World) -> SsmWorld:
    part = SsmWorld(world)
    world.ssm_world = part  # type: ignore[attr-defined]
    world.add(part)
    _wrap_once(EC2Backend, "run_instances", _wrap_run_instances)
    _wrap_once(Ec2Instance, "start", _wrap_start)
    _wrap_once(Ec2Instance, "stop", _wrap_stop)
    response_cls = ssm_responses.SimpleSystemManagerResponse
    for name, handler in HANDLERS.items():
        setattr(response_cls, name, handler)
    return part
