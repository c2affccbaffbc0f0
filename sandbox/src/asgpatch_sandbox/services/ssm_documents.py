"""SSM documents as AWS has them: the AWS-owned ones beside the account's own, and their rules.

AWS-RunPatchBaseline and AWS-RunShellScript exist as AWS-owned documents (moto has neither);
SendCommand checks the document, its parameters and their allowed values as AWS does, and a
command's steps and execution timeout come from the document.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from moto.ssm.models import Document, Documents

from asgpatch_sandbox.services.ssm_common import ssm_error
from asgpatch_sandbox.services.ssm_nodes import PLATFORM

RUN_PATCH_BASELINE = "AWS-RunPatchBaseline"
RUN_SHELL_SCRIPT = "AWS-RunShellScript"
AMAZON_OWNER = "Amazon"
DEFAULT_EXECUTION_TIMEOUT = 3600

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
