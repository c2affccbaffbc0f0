"""Change sets as CloudFormation makes them, so a deploy command can use them as it would on AWS.

moto answered an identical resubmit with ValidationError "No updates are to be performed." (AWS
makes the change set, FAILED, "The submitted information didn't contain changes. Submit different
information to create a change set.", and refuses to execute it), listed no Changes for a
parameter-only change, executed any change set whatever its status, and left a stack created
through ExecuteChangeSet without Outputs (it never rebuilt them). Here executing a CREATE change set
creates the stack as CreateStack does (outputs, exports, events, rollback) and an UPDATE one updates
it as UpdateStack does; the stack's other change sets become OBSOLETE.
"""

from __future__ import annotations

from typing import Any

from moto.cloudformation import models as cfn_models
from moto.cloudformation import parsing
from moto.cloudformation.exceptions import AlreadyExistsException, CloudFormationError, ValidationError
from moto.core.responses import ActionResult

from asgpatch_sandbox.services.cloudformation_resources import ResourceFailed
from asgpatch_sandbox.services.cloudformation_stacks import changed_parameters, roll_back_creation, same_template

NO_CHANGES = "The submitted information didn't contain changes. Submit different information to create a change set."
TERMINAL = ("ROLLBACK_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "UPDATE_ROLLBACK_FAILED")


class InvalidChangeSetStatus(CloudFormationError):
    code = "InvalidChangeSetStatus"


class ChangeSetNotFound(CloudFormationError):
    code = "ChangeSetNotFound"


def _live_stack(backend: Any, name_or_id: str) -> Any | None:
    for stack in backend.stacks.values():
        if name_or_id in (stack.name, stack.stack_id):
            return stack
    return None


def create_change_set(self: Any) -> ActionResult:
    """CloudFormationResponse.create_change_set, without moto's "No updates are to be performed."."""
    backend = self.cloudformation_backend
    stack_name, name = self._get_param("StackName"), self._get_param("ChangeSetName")
    kind = self._get_param("ChangeSetType", "UPDATE")  # AWS's default; moto's was CREATE
    body, url = self._get_param("TemplateBody"), self._get_param("TemplateURL")
    stack = _live_stack(backend, stack_name)
    if kind == "CREATE" and stack is not None and stack.status != "REVIEW_IN_PROGRESS":
        raise AlreadyExistsException(f"Stack [{stack_name}] already exists and cannot be created again with the "
                                     f"changeSet [{name}].")  # fmt: skip
    if kind == "UPDATE":
        if stack is None or stack.status == "REVIEW_IN_PROGRESS":
            raise ValidationError(stack_name)
        self.validate_template_and_stack_body()
        if self._get_bool_param("UsePreviousTemplate", False):
            body = stack.template
    if url:
        body = self._get_stack_from_s3_url(url)
    parameters = {}
    for item in self._get_param("Parameters", []):
        key = item["ParameterKey"]
        if item.get("UsePreviousValue"):
            if stack is None or key not in stack.resource_map.resolved_parameters:
                raise ValidationError(message=f"Invalid input for parameter key {key}. Cannot specify "
                                              "usePreviousValue as true for a parameter key not in the previous "
                                              "template")  # fmt: skip
            parameters[key] = stack.parameters.get(key, stack.resource_map.resolved_parameters[key])
        else:
            parameters[key] = item.get("ParameterValue")
    tags = {item["Key"]: item["Value"] for item in self._get_param("Tags", [])}
    _check_template(backend, stack_name, body, parameters, tags)
    change_set_id, stack_id = backend.create_change_set(
        stack_name=stack_name,
        change_set_name=name,
        template=body,
        parameters=parameters,
        description=self._get_param("Description"),
        notification_arns=self._get_param("NotificationARNs", []),
        tags=tags,
        role_arn=self._get_param("RoleARN"),
        change_set_type=kind,
    )
    _describe_changes(backend.change_sets[change_set_id], kind, tags)
    return ActionResult({"Id": change_set_id, "StackId": stack_id})


def _check_template(backend: Any, stack_name: str, body: str, parameters: dict[str, Any], tags: dict[str, str]) -> None:
    """What AWS refuses at CreateChangeSet already: a template it cannot read, a parameter without a value."""
    try:
        template = cfn_models.Stack.parse_template(body)
    except ValueError as error:
        raise ValidationError(message=f"Template format error: {error}") from None
    if not isinstance(template, dict):
        raise ValidationError(message="Template format error: the template is not a JSON or YAML object")
    parsing.ResourceMap(
        "check", stack_name, parameters, tags, backend.region_name, backend.account_id, template, backend.exports
    ).load()


def _describe_changes(change_set: Any, kind: str, tags: dict[str, str]) -> None:
    """Changes that count parameters too, and FAILED when nothing at all would change."""
    stack = change_set.stack
    resources = stack.resource_map
    diff = resources.build_resource_diff(change_set.template_dict, change_set.parameters)
    change_set.changes = []
    for action in ("Add", "Modify", "Remove"):
        for key in diff[action]:
            source = change_set.template_dict if action != "Remove" else stack.template_dict
            change: Any = cfn_models.Change(action, key, source["Resources"][key]["Type"])
            if action != "Add":
                change.physical_resource_id = str(
                    getattr(resources._parsed_resources.get(key), "physical_resource_id", "") or ""
                )
            if action == "Modify":
                change.replacement, change.scope = "False", ["Properties"]
            change_set.changes.append(change)
    unchanged = (
        kind == "UPDATE"
        and same_template(change_set.template_dict, stack.template_dict)
        and not changed_parameters(resources.resolved_parameters, change_set.template_dict, change_set.parameters)
        and (not tags or tags == stack.tags)
    )
    if unchanged:
        change_set.status, change_set.execution_status, change_set.status_reason = "FAILED", "UNAVAILABLE", NO_CHANGES
    else:
        change_set.status, change_set.execution_status, change_set.status_reason = "CREATE_COMPLETE", "AVAILABLE", None


def _find(backend: Any, change_set_name: str, stack_name: str | None) -> Any:
    if change_set_name in backend.change_sets:
        return backend.change_sets[change_set_name]
    for change_set in backend.change_sets.values():
        if change_set.change_set_name == change_set_name and stack_name in (None, change_set.stack_name,
                                                                            change_set.stack_id):  # fmt: skip
            return change_set
    raise ChangeSetNotFound(f"ChangeSet [{change_set_name}] does not exist")


def execute_change_set(self: Any, change_set_name: str, stack_name: str | None = None) -> None:
    """CloudFormationBackend.execute_change_set: only an AVAILABLE change set; the stack as Create/UpdateStack."""
    change_set = _find(self, change_set_name, stack_name)
    if change_set.execution_status != "AVAILABLE":
        raise InvalidChangeSetStatus(f"ChangeSet [{change_set.stack_id}] cannot be executed in its current execution "
                                     f"status of [{change_set.execution_status}]")  # fmt: skip
    stack = self.stacks[change_set.stack_id]
    change_set.execution_status = "EXECUTE_IN_PROGRESS"
    try:
        if change_set.change_set_type == "CREATE":
            _create(self, stack, change_set)
        else:
            stack.update(change_set.template, change_set.role_arn, parameters=_values(change_set) or None,
                         tags=change_set.tags or None)  # fmt: skip
    except Exception:
        change_set.execution_status = "EXECUTE_FAILED"
        raise
    change_set.execution_status = "EXECUTE_FAILED" if stack.status in TERMINAL else "EXECUTE_COMPLETE"
    if change_set.execution_status == "EXECUTE_FAILED":  # kept, to be read; the others are stale
        for other in self.change_sets.values():
            if other is not change_set and other.stack_id == stack.stack_id and other.execution_status == "AVAILABLE":
                other.execution_status = "OBSOLETE"
        return
    # "After you execute a change set, CloudFormation removes all change sets that are associated with the
    # stack because they aren't valid for the updated stack" (moto kept them, listed as if still pending).
    for key in [k for k, other in self.change_sets.items() if other.stack_id == stack.stack_id]:
        del self.change_sets[key]


def list_change_sets(self: Any) -> Any:
    """CloudFormationResponse.list_change_sets: the named stack's change sets (moto listed every stack's)."""
    from moto.core.responses import ActionResult

    name = self._get_param("StackName")
    found = [c for c in self.cloudformation_backend.list_change_sets() if name in (c.stack_id, c.stack_name)]
    return ActionResult({"Summaries": found})


def _values(change_set: Any) -> dict[str, Any]:
    """The parameters as AWS applies them: those given, the others at their default (moto kept the old
    values when none were given)."""
    slots = change_set.template_dict.get("Parameters") or {}
    defaults = {name: str(slot["Default"]) for name, slot in slots.items() if "Default" in slot}
    return {**defaults, **(change_set.parameters or {})}


def _create(backend: Any, stack: Any, change_set: Any) -> None:
    """What CreateStack does, for the stack the change set made in REVIEW_IN_PROGRESS."""
    stack.template, stack.parameters = change_set.template, dict(change_set.parameters or {})
    stack._parse_template()
    stack.description = stack.template_dict.get("Description")
    stack.resource_map = stack._create_resource_map()
    stack.output_map = stack._create_output_map()
    stack._add_stack_event("CREATE_IN_PROGRESS", resource_status_reason="User Initiated")
    try:
        backend._validate_export_uniqueness(stack)
        for export in stack.exports:
            backend.exports[export.name] = export
        stack.create_resources()
    except ResourceFailed as failure:
        roll_back_creation(backend, stack, failure)
