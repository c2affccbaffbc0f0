"""Stacks that report and fail as CloudFormation's do, so a deploy command can print why.

moto recorded only stack-level events, let a failing resource escape as the CreateStack call's own
error (leaving the stack CREATE_IN_PROGRESS and half built), and noticed a changed parameter only
where a resource `Ref`s it. Here each resource has its events (…_IN_PROGRESS, …_COMPLETE, …_FAILED
with the reason); a resource that fails to create rolls the stack back (its resources deleted,
ROLLBACK_COMPLETE, "The following resource(s) failed to create: [X]. Rollback requested by user.");
one that fails to update puts the previous template back (UPDATE_ROLLBACK_COMPLETE); and a parameter
used through Fn::Sub counts as a change too. Template errors stay the call's own ValidationError.
Not emulated: OnFailure / DisableRollback (a failed create always rolls back).
"""

from __future__ import annotations

import contextlib
import json
import re
from typing import Any

from moto.cloudformation import models as cfn_models
from moto.cloudformation import parsing
from moto.cloudformation.exceptions import CloudFormationError

from asgpatch_sandbox.override import original
from asgpatch_sandbox.services.cloudformation_resources import ResourceFailed

Stack, ResourceMap, Backend = cfn_models.Stack, parsing.ResourceMap, cfn_models.CloudFormationBackend


def _stack_of(resources: Any) -> Any:
    backend = cfn_models.cloudformation_backends[resources._account_id][resources._region_name]
    return backend.stacks.get(resources.stack_id)


def resource_event(stack: Any, logical_id: str, kind: str, status: str, physical_id: str = "",
                   reason: str | None = None, properties: Any = None) -> None:  # fmt: skip
    event = cfn_models.Event(
        stack_id=stack.stack_id,
        stack_name=stack.name,
        logical_resource_id=logical_id,
        physical_resource_id=physical_id,
        resource_type=kind,
        resource_status=status,
        resource_status_reason=reason,
        resource_properties=json.dumps(properties, default=str) if properties is not None else None,
    )
    event.sendToSns(stack.account_id, stack.region_name, stack.notification_arns)
    stack.events.append(event)


def _physical_id(resource: Any) -> str:
    return str(getattr(resource, "physical_resource_id", "") or "")


def get_resource(self: Any, key: str) -> Any:
    """ResourceMap.__getitem__: a resource created on first use gets its events; a failure, its reason."""
    get = original(ResourceMap, "__getitem__")
    if key in self._parsed_resources or key not in self._resource_json_map:
        return get(self, key)
    definition = self._resource_json_map[key]
    stack, kind = _stack_of(self), definition.get("Type", "")
    try:
        made = get(self, key)
    except ResourceFailed as failure:
        if failure.logical_id == key and stack is not None:  # else a dependency failed: this one never began
            resource_event(stack, key, kind, "CREATE_IN_PROGRESS", properties=definition.get("Properties"))
            resource_event(stack, key, kind, "CREATE_FAILED", reason=failure.reason)
        raise
    except CloudFormationError:
        raise  # a template error: CreateStack / UpdateStack answer it themselves
    except Exception as error:
        reason = str(getattr(error, "message", "") or error) or type(error).__name__
        if stack is not None:
            resource_event(stack, key, kind, "CREATE_IN_PROGRESS", properties=definition.get("Properties"))
            resource_event(stack, key, kind, "CREATE_FAILED", reason=reason)
        raise ResourceFailed(key, reason) from error
    if made is not None and stack is not None:
        resource_event(stack, key, kind, "CREATE_IN_PROGRESS", properties=definition.get("Properties"))
        resource_event(stack, key, kind, "CREATE_COMPLETE", physical_id=_physical_id(made))
    return made


def stack_resources(self: Any) -> list[Any]:
    """Stack.stack_resources: those that exist (moto listed an empty one for a resource whose Condition is false)."""
    return [resource for resource in self.resource_map.values() if resource is not None]


def created(resources: Any) -> list[str]:
    """The stack's resources that exist, in the order they were created."""
    return [key for key, value in resources._parsed_resources.items() if key in resources._resource_json_map
            and value is not None]  # fmt: skip


def _delete_all(stack: Any, resources: Any, keys: list[str]) -> None:
    for key in reversed(keys):
        resource, definition = resources._parsed_resources.pop(key), resources._resource_json_map[key]
        kind, physical = definition.get("Type", ""), _physical_id(resource)
        resource_event(stack, key, kind, "DELETE_IN_PROGRESS", physical_id=physical)
        try:
            resources._delete_resource(resource, definition)
        except Exception as error:  # AWS would report DELETE_FAILED and leave it: so does the sandbox
            resource_event(stack, key, kind, "DELETE_FAILED", physical_id=physical, reason=str(error))
        else:
            resource_event(stack, key, kind, "DELETE_COMPLETE", physical_id=physical)


def roll_back_creation(backend: Any, stack: Any, failure: ResourceFailed) -> None:
    """ROLLBACK_COMPLETE: everything the stack created is deleted; it keeps its template and events."""
    reason = f"The following resource(s) failed to create: [{failure.logical_id}]. Rollback requested by user."
    stack.status, stack.status_reason = "ROLLBACK_IN_PROGRESS", reason
    stack._add_stack_event("ROLLBACK_IN_PROGRESS", resource_status_reason=reason)
    resources = stack.resource_map
    _delete_all(stack, resources, created(resources))
    resources._resource_json_map = {}
    stack.output_map = parsing.OutputMap(resources, {}, stack.stack_id)
    for name in [n for n, e in backend.exports.items() if e.exporting_stack_id == stack.stack_id]:
        del backend.exports[name]
    stack.status = "ROLLBACK_COMPLETE"
    stack._add_stack_event("ROLLBACK_COMPLETE")


def create_stack(self: Any, name: str, *args: Any, **kwargs: Any) -> Any:
    """CloudFormationBackend.create_stack: a resource's failure rolls the stack back (moto raised it)."""
    try:
        return original(Backend, "create_stack")(self, name, *args, **kwargs)
    except ResourceFailed as failure:
        stack = next(s for s in self.stacks.values() if s.name == name)
        roll_back_creation(self, stack, failure)
        return stack


def update(self: Any, template: str, role_arn: str | None = None, parameters: dict[str, Any] | None = None,
           tags: dict[str, str] | None = None) -> None:  # fmt: skip
    """Stack.update: modified and removed resources get their events; a failure puts the old template back."""
    before = (self.template, dict(self.parameters), dict(self.resource_map.input_parameters))
    old_objects = {key: self.resource_map._parsed_resources[key] for key in created(self.resource_map)}
    old_physical = {key: _physical_id(resource) for key, resource in old_objects.items()}
    old_types = {key: self.resource_map._resource_json_map[key].get("Type", "") for key in old_physical}
    diff = self.resource_map.build_resource_diff(Stack.parse_template(template), parameters)
    try:
        original(Stack, "update")(self, template, role_arn, parameters=parameters, tags=tags)
    except ResourceFailed as failure:
        _roll_back_update(self, failure, before)
        return
    except CloudFormationError:
        self.template = before[0]
        self._parse_template()
        raise
    finished = self.events.pop()  # the stack's UPDATE_COMPLETE comes after its resources' events
    new_definitions = self.resource_map._resource_json_map
    for key in diff["Modify"]:
        if self.resource_map._parsed_resources.get(key) is None and old_objects.get(key) is not None:
            self.resource_map._parsed_resources[key] = old_objects[key]  # moto lost a type it cannot update
        kind, physical = (
            new_definitions[key].get("Type", ""),
            _physical_id(self.resource_map._parsed_resources.get(key)),
        )
        resource_event(self, key, kind, "UPDATE_IN_PROGRESS", physical_id=physical,
                       properties=new_definitions[key].get("Properties"))  # fmt: skip
        resource_event(self, key, kind, "UPDATE_COMPLETE", physical_id=physical)
    for key in diff["Remove"]:
        resource_event(self, key, old_types.get(key, ""), "DELETE_IN_PROGRESS", physical_id=old_physical.get(key, ""))
        resource_event(self, key, old_types.get(key, ""), "DELETE_COMPLETE", physical_id=old_physical.get(key, ""))
    self.events.append(finished)


def delete(self: Any) -> None:
    """Stack.delete: each resource gets DELETE_IN_PROGRESS / DELETE_COMPLETE, a retained one DELETE_SKIPPED."""
    resources = self.resource_map
    before = {key: (resources._resource_json_map[key].get("Type", ""), _physical_id(resources._parsed_resources[key]))
              for key in created(resources)}  # fmt: skip
    original(Stack, "delete")(self)
    finished = self.events.pop()  # the stack's DELETE_COMPLETE comes last
    for key, (kind, physical) in reversed(before.items()):
        if key in resources._parsed_resources:
            resource_event(self, key, kind, "DELETE_SKIPPED", physical_id=physical)
        else:
            resource_event(self, key, kind, "DELETE_IN_PROGRESS", physical_id=physical)
            resource_event(self, key, kind, "DELETE_COMPLETE", physical_id=physical)
    self.events.append(finished)


def _roll_back_update(stack: Any, failure: ResourceFailed, before: tuple[str, dict[str, Any], dict[str, Any]]) -> None:
    kind = stack.resource_map._resource_json_map.get(failure.logical_id, {}).get("Type", "")
    if not any(e.logical_resource_id == failure.logical_id and e.resource_status.endswith("FAILED")
               for e in stack.events[-2:]):  # fmt: skip
        resource_event(stack, failure.logical_id, kind, "UPDATE_IN_PROGRESS")
        resource_event(stack, failure.logical_id, kind, "UPDATE_FAILED", reason=failure.reason)
    reason = f"The following resource(s) failed to update: [{failure.logical_id}]."
    stack.status, stack.status_reason = "UPDATE_ROLLBACK_IN_PROGRESS", reason
    stack._add_stack_event("UPDATE_ROLLBACK_IN_PROGRESS", resource_status_reason=reason)
    template, parameters, inputs = before
    stack.template = template
    stack._parse_template()
    with contextlib.suppress(Exception):  # AWS would end UPDATE_ROLLBACK_FAILED; the sandbox keeps what it could
        stack.resource_map.update(stack.template_dict, inputs or None)
    stack.parameters = parameters
    stack.output_map = stack._create_output_map()
    stack.status = "UPDATE_ROLLBACK_COMPLETE"
    stack._add_stack_event("UPDATE_ROLLBACK_COMPLETE")


# --- which resources a template change touches ----------------------------------------------------------
def referenced_names(node: Any) -> set[str]:
    """What a resource's definition refers to: Ref targets and ${Name} in Fn::Sub (not ${A.B}, ${!x})."""
    names: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                names.add(value)
            elif key == "Fn::Sub":
                text = value[0] if isinstance(value, list) and value else value
                local = set(value[1]) if isinstance(value, list) and len(value) > 1 else set()
                if isinstance(text, str):
                    names.update(set(re.findall(r"\$\{([^!.}][^.}]*)\}", text)) - local)
                names.update(referenced_names(value[1:] if isinstance(value, list) else []))
            else:
                names.update(referenced_names(value))
    elif isinstance(node, list):
        for item in node:
            names.update(referenced_names(item))
    return names


def _text(value: Any) -> str:
    return ",".join(map(str, value)) if isinstance(value, list) else str(value)


def changed_parameters(old_values: dict[str, Any], template: dict[str, Any], given: dict[str, Any]) -> set[str]:
    """Parameters whose new value — the one given, else the template's default, as AWS takes it —
    differs from the value in use."""
    changed = set()
    for name, slot in (template.get("Parameters") or {}).items():
        value = given.get(name, slot.get("Default"))
        if _text(value) != _text(old_values.get(name)):
            changed.add(name)
    return changed


def _resource(definition: dict[str, Any]) -> dict[str, Any]:
    """A resource's definition as written: moto adds an empty Properties to those without."""
    return {key: value for key, value in definition.items() if key != "Properties" or value}


def same_template(one: dict[str, Any], other: dict[str, Any]) -> bool:
    def plain(template: dict[str, Any]) -> dict[str, Any]:
        resources = {name: _resource(d) for name, d in (template.get("Resources") or {}).items()}
        return {**template, "Resources": resources}

    return plain(one) == plain(other)


def build_resource_diff(
    self: Any, other_template: dict[str, Any], parameters: dict[str, Any] | None = None
) -> dict[str, list[str]]:
    """ResourceMap.build_resource_diff: as moto's, and a resource using a changed parameter is modified."""
    old, new = self._resource_json_map, other_template.get("Resources") or {}
    same = {name for name in new if name in old and _resource(new[name]) == _resource(old[name])}
    diff = {
        "Add": [name for name in new if name not in old],
        "Modify": [name for name in new if name in old and name not in same],
        "Remove": [name for name in old if name not in new],
    }
    if parameters:
        changed = changed_parameters(self.resolved_parameters, other_template, parameters)
        diff["Modify"] += [name for name in new if name in same and referenced_names(new[name]) & changed]
    return diff
