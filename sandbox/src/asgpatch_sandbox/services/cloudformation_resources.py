"""Resource types moto's CloudFormation skipped with a warning (Ref gave None): maintenance windows,
their tasks and targets here; SNS subscriptions, topic policies and bucket policies in
cloudformation_sns_s3.py.

moto builds its type map from CloudFormationModel's direct subclasses (cloudformation/parsing.py,
get_model_map, cached): defining one here and clearing that cache (`register`, called by
moto_changes.apply_all) adds a type. Each creates its resource through the same moto backend and the
same checks the API uses, so a stack's window is the one GetMaintenanceWindow shows and it runs on
the sandbox clock. A bad value fails the resource with CloudFormation's wording: the type's schema
first ("Properties validation failed …"), then the service's own answer ("Resource handler returned
message: …"), which services/cloudformation_stacks.py turns into CREATE_FAILED and a rollback.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from moto.core.common_models import CloudFormationModel
from moto.core.exceptions import ServiceException

from asgpatch_sandbox.services import ssm_maintenance_windows as windows
from asgpatch_sandbox.world import current


class ResourceFailed(Exception):
    """A resource CloudFormation could not create, update or delete; `reason` is what its event says."""

    def __init__(self, logical_id: str, reason: str) -> None:
        super().__init__(reason)
        self.logical_id, self.reason = logical_id, reason


def handler_failed(logical_id: str, service: str, error: Exception) -> ResourceFailed:
    message = getattr(error, "message", None) or str(error)
    status = getattr(error, "code", 400) if isinstance(getattr(error, "code", None), int) else 400
    request, token = uuid.uuid4(), uuid.uuid4()
    return ResourceFailed(logical_id, f'Resource handler returned message: "{message} (Service: {service}, Status '
                          f'Code: {status}, Request ID: {request})" (RequestToken: {token}, HandlerErrorCode: '
                          'InvalidRequest)')  # fmt: skip


# --- the types' schemas: what CloudFormation checks before calling the service ---------------------------
# property -> (type, minimum, maximum, pattern or enum); for strings minimum/maximum are lengths.
Schema = dict[str, tuple[str, int | None, int | None, Any]]
WINDOW_SCHEMA: Schema = {
    "Name": ("string", 3, 128, None), "Description": ("string", 1, 128, None), "Schedule": ("string", 1, 256, None),
    "Duration": ("integer", 1, 24, None), "Cutoff": ("integer", 0, 23, None), "ScheduleOffset": ("integer", 1, 6, None),
    "ScheduleTimezone": ("string", 1, 128, None), "StartDate": ("string", 1, 256, None),
    "EndDate": ("string", 1, 256, None), "AllowUnassociatedTargets": ("boolean", None, None, None),
    "Tags": ("array", None, None, None),
}  # fmt: skip
TASK_SCHEMA: Schema = {
    "WindowId": ("string", None, None, r"^mw-[0-9a-f]{17}$"), "TaskArn": ("string", 1, 1600, None),
    "TaskType": ("string", None, None, windows.TASK_TYPES), "Priority": ("integer", 0, None, None),
    "MaxConcurrency": ("string", 1, 7, r"^([1-9][0-9]*|[1-9][0-9]%|[1-9]%|100%)$"),
    "MaxErrors": ("string", 1, 7, r"^([1-9][0-9]*|[0]|[1-9][0-9]%|[0-9]%|100%)$"),
    "Name": ("string", 3, 128, r"^[a-zA-Z0-9_\-.]{3,128}$"), "Description": ("string", 1, 128, None),
    "ServiceRoleArn": ("string", None, None, None), "Targets": ("array", None, 5, None),
    "CutoffBehavior": ("string", None, None, ("CONTINUE_TASK", "CANCEL_TASK")),
    "TaskInvocationParameters": ("object", None, None, None), "TaskParameters": ("object", None, None, None),
    "LoggingInfo": ("object", None, None, None),
}  # fmt: skip
TARGET_SCHEMA: Schema = {
    "WindowId": ("string", 20, 20, r"^mw-[0-9a-f]{17}$"),
    "ResourceType": ("string", None, None, ("INSTANCE", "RESOURCE_GROUP")),
    "Targets": ("array", None, 5, None), "OwnerInformation": ("string", 1, 128, None),
    "Name": ("string", 3, 128, r"^[a-zA-Z0-9_\-.]{3,128}$"), "Description": ("string", 1, 128, None),
}  # fmt: skip


def _coerced(kind: str, value: Any) -> Any:
    """CloudFormation hands parameters over as strings; an integer or boolean property takes "4" / "true"."""
    if kind == "integer" and isinstance(value, str) and re.fullmatch(r"-?\d+", value):
        return int(value)
    if kind == "boolean" and isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return value


def validated(logical_id: str, properties: dict[str, Any], schema: Schema, required: tuple[str, ...]) -> dict[str, Any]:
    """The properties, coerced to their types, or ResourceFailed with the schema's messages."""
    problems = [f"#: required key [{key}] not found" for key in required if properties.get(key) is None]
    result: dict[str, Any] = {}
    for key, value in properties.items():
        if key not in schema:
            problems.append(f"#: extraneous key [{key}] is not permitted")
            continue
        kind, low, high, rule = schema[key]
        value = result[key] = _coerced(kind, value)
        checked: Any = value
        pytype = {"string": str, "integer": int, "boolean": bool, "array": list, "object": dict}[kind]
        if not isinstance(value, pytype) or (kind == "integer" and isinstance(value, bool)):
            problems.append(f"#/{key}: expected type: {kind.capitalize()}, found: {type(value).__name__}")
            continue
        size: int = checked if kind == "integer" else len(checked) if kind in ("string", "array") else 0
        for keyword, broken in (("minimum" if kind == "integer" else "minLength", low is not None and size < low),
                                ("maximum" if kind == "integer" else "maxLength", high is not None and size > high),
                                ("pattern", isinstance(rule, str) and not re.match(rule, str(value))),
                                ("enum", isinstance(rule, tuple) and value not in rule)):  # fmt: skip
            if broken:
                problems.append(f"#/{key}: failed validation constraint for keyword [{keyword}]")
    if problems:
        raise ResourceFailed(logical_id, f"Properties validation failed for resource {logical_id} with message: "
                                         f"[{', '.join(problems)}]")  # fmt: skip
    return result


class SandboxResource:
    """What the sandbox's types share; each type says how to create, change and delete. A type must
    name CloudFormationModel among its own bases: moto lists only its direct subclasses."""

    TYPE = ""
    ATTRIBUTES: dict[str, str] = {}  # Fn::GetAtt name -> attribute of this object

    def __init__(self, logical_id: str, physical_id: str, region: str) -> None:
        self.logical_id, self.physical_id, self.region = logical_id, physical_id, region
        self.window_id, self.task_type = "", ""  # what the maintenance-window types remember
        self.properties: dict[str, Any] = {}
        self.topics: list[str] = []

    @property
    def physical_resource_id(self) -> str:
        return self.physical_id

    @classmethod
    def cloudformation_type(cls) -> str:
        return cls.TYPE

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""  # no generated names: the types either need none or take them from the service

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in cls.ATTRIBUTES

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

        if attribute_name not in self.ATTRIBUTES:
            raise UnformattedGetAttTemplateException()
        return getattr(self, self.ATTRIBUTES[attribute_name])

    def is_created(self) -> bool:
        return True

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **kwargs: Any
    ) -> Any:
        logical_id = kwargs.get("LogicalId", resource_name)
        return cls.create(logical_id, resource_name, cloudformation_json.get("Properties") or {}, region_name)

    @classmethod
    def update_from_cloudformation_json(
        cls, original_resource: Any, new_resource_name: str, cloudformation_json: dict[str, Any], account_id: str,
        region_name: str,
    ) -> Any:  # fmt: skip
        original_resource.change(cloudformation_json.get("Properties") or {})
        return original_resource

    @classmethod
    def delete_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str
    ) -> None:
        pass  # never reached: ResourceMap deletes through `delete` on the object

    @classmethod
    def create(cls, logical_id: str, name: str, properties: dict[str, Any], region: str) -> SandboxResource:
        """By default a resource is made by applying its properties to a blank one (policies, subscriptions)."""
        made = cls(logical_id, name, region)
        made.change(properties)
        return made

    def change(self, properties: dict[str, Any]) -> None:
        raise NotImplementedError

    def delete(self, account_id: str, region_name: str) -> None:
        raise NotImplementedError


def _ssm(region: str) -> Any:
    return current().ssm(region)


class MaintenanceWindow(SandboxResource, CloudFormationModel):
    TYPE = "AWS::SSM::MaintenanceWindow"
    ATTRIBUTES = {"WindowId": "physical_id"}
    REQUIRED = ("AllowUnassociatedTargets", "Cutoff", "Schedule", "Duration", "Name")

    @classmethod
    def create(cls, logical_id: str, name: str, properties: dict[str, Any], region: str) -> SandboxResource:
        values = validated(logical_id, properties, WINDOW_SCHEMA, cls.REQUIRED)
        try:
            window = windows.create_window(_ssm(region), values)
        except ServiceException as error:
            raise handler_failed(logical_id, "Ssm", error) from None
        return cls(logical_id, window.id, region)

    def change(self, properties: dict[str, Any]) -> None:
        values = validated(self.logical_id, properties, WINDOW_SCHEMA, self.REQUIRED)
        values.pop("Tags", None)
        try:
            windows.update_window(_ssm(self.region), self.physical_id, values, replace=True)
        except ServiceException as error:
            raise handler_failed(self.logical_id, "Ssm", error) from None

    def delete(self, account_id: str, region_name: str) -> None:
        _ssm(self.region).windows.pop(self.physical_id, None)


LOGGING_KEYS = {"S3Bucket": "S3BucketName", "Region": "S3Region", "S3Prefix": "S3KeyPrefix"}
INVOCATION_KEYS = {"MaintenanceWindowStepFunctionsParameters": "StepFunctions", "MaintenanceWindowLambdaParameters":
                   "Lambda", "MaintenanceWindowRunCommandParameters": "RunCommand",
                   "MaintenanceWindowAutomationParameters": "Automation"}  # fmt: skip


def _task_values(values: dict[str, Any]) -> dict[str, Any]:
    """The template's spelling of a task (MaintenanceWindowStepFunctionsParameters …) in the API's."""
    api = dict(values)
    if "TaskInvocationParameters" in api:
        api["TaskInvocationParameters"] = {
            INVOCATION_KEYS.get(k, k): v for k, v in api["TaskInvocationParameters"].items()
        }
    if "LoggingInfo" in api:
        api["LoggingInfo"] = {LOGGING_KEYS.get(k, k): v for k, v in api["LoggingInfo"].items()}
    return api


class MaintenanceWindowTask(SandboxResource, CloudFormationModel):
    TYPE = "AWS::SSM::MaintenanceWindowTask"
    ATTRIBUTES = {"WindowTaskId": "physical_id", "Id": "physical_id"}
    REQUIRED = ("WindowId", "Priority", "TaskType", "TaskArn")

    @classmethod
    def create(cls, logical_id: str, name: str, properties: dict[str, Any], region: str) -> SandboxResource:
        values = _task_values(validated(logical_id, properties, TASK_SCHEMA, cls.REQUIRED))
        try:
            task = windows.register_task(_ssm(region), values)
        except ServiceException as error:
            raise handler_failed(logical_id, "Ssm", error) from None
        made = cls(logical_id, task.window_task_id, region)
        made.window_id, made.task_type = task.window_id, task.task_type
        return made

    def change(self, properties: dict[str, Any]) -> None:
        """In place; a new WindowId or TaskType replaces the task (both are create-only)."""
        values = _task_values(validated(self.logical_id, properties, TASK_SCHEMA, self.REQUIRED))
        backend = _ssm(self.region)
        try:
            task = windows.register_task(backend, values)
        except ServiceException as error:
            raise handler_failed(self.logical_id, "Ssm", error) from None
        window = backend.windows[task.window_id]
        if (task.window_id, task.task_type) == (self.window_id, self.task_type):
            del window.tasks[task.window_task_id]
            task.window_task_id = self.physical_id
            window.tasks[self.physical_id] = task
        else:
            self.delete("", self.region)
            self.physical_id, self.window_id, self.task_type = task.window_task_id, task.window_id, task.task_type

    def delete(self, account_id: str, region_name: str) -> None:
        window = _ssm(self.region).windows.get(self.window_id)
        if window is not None:
            window.tasks.pop(self.physical_id, None)


class MaintenanceWindowTarget(SandboxResource, CloudFormationModel):
    TYPE = "AWS::SSM::MaintenanceWindowTarget"
    ATTRIBUTES = {"WindowTargetId": "physical_id", "Id": "physical_id"}
    REQUIRED = ("WindowId", "ResourceType", "Targets")

    @classmethod
    def create(cls, logical_id: str, name: str, properties: dict[str, Any], region: str) -> SandboxResource:
        values = validated(logical_id, properties, TARGET_SCHEMA, cls.REQUIRED)
        try:
            target_id = _ssm(region).register_target_with_maintenance_window(
                window_id=values["WindowId"], resource_type=values["ResourceType"], targets=values["Targets"],
                owner_information=values.get("OwnerInformation"), name=values.get("Name"),
                description=values.get("Description"),
            )  # fmt: skip
        except ServiceException as error:
            raise handler_failed(logical_id, "Ssm", error) from None
        made = cls(logical_id, target_id, region)
        made.window_id = values["WindowId"]
        return made

    def change(self, properties: dict[str, Any]) -> None:
        values = validated(self.logical_id, properties, TARGET_SCHEMA, self.REQUIRED)
        if values["WindowId"] != self.window_id:
            self.delete("", self.region)
            replacement = self.create(self.logical_id, "", properties, self.region)
            self.physical_id, self.window_id = replacement.physical_id, values["WindowId"]
            return
        target = _ssm(self.region).windows[self.window_id].targets[self.physical_id]
        target.resource_type, target.targets = values["ResourceType"], values["Targets"]
        target.owner_information, target.name = values.get("OwnerInformation"), values.get("Name")
        target.description = values.get("Description")

    def delete(self, account_id: str, region_name: str) -> None:
        window = _ssm(self.region).windows.get(self.window_id)
        if window is not None:
            window.targets.pop(self.physical_id, None)


TYPES: tuple[type[SandboxResource], ...] = (MaintenanceWindow, MaintenanceWindowTask, MaintenanceWindowTarget)


def register() -> None:
    """Make moto's CloudFormation see the sandbox's types (its type map is cached on first use)."""
    from moto.cloudformation import parsing

    from asgpatch_sandbox.services import cloudformation_sns_s3

    for cached in (parsing.get_model_list, parsing.get_model_map, parsing.get_name_type_map):
        cached.cache_clear()
    known = parsing.get_model_map()
    types = TYPES + cloudformation_sns_s3.TYPES
    assert all(known.get(t.TYPE) is t for t in types), "a sandbox CloudFormation type is not registered"
