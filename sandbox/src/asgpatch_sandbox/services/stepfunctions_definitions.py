"""State machine definitions are checked when they are created or updated, as Step Functions does.

moto stored any text, so a definition with a typo in a `Next` deployed fine and failed only when an
execution reached it. Here CreateStateMachine, UpdateStateMachine and CloudFormation's state machines
refuse it with `InvalidDefinition` (AWS's diagnostic codes: INVALID_JSON_DESCRIPTION,
SCHEMA_VALIDATION_FAILED, MISSING_TRANSITION_TARGET, UNREACHABLE_STATE). Only the top level is checked:
the branches of Parallel and Map states are theirs.
"""

from __future__ import annotations

import json
from typing import Any

from moto.core.exceptions import AWSError
from moto.stepfunctions.models import StepFunctionBackend

from asgpatch_sandbox.override import original

TYPES = {"Task", "Choice", "Wait", "Pass", "Succeed", "Fail", "Parallel", "Map"}
TERMINAL = {"Choice", "Succeed", "Fail"}  # they have no Next / End of their own
SCHEMA, MISSING = "SCHEMA_VALIDATION_FAILED", "MISSING_TRANSITION_TARGET"


class InvalidDefinition(AWSError):
    TYPE = "InvalidDefinition"
    STATUS = 400

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"Invalid State Machine Definition: '{code}: {detail}'")


def _targets(name: str, state: dict[str, Any]) -> list[tuple[str, str]]:
    """(target, where) for every transition out of a state."""
    found = []
    if "Next" in state:
        found.append((state["Next"], f"/States/{name}/Next"))
    if "Default" in state:
        found.append((state["Default"], f"/States/{name}/Default"))
    for index, rule in enumerate(state.get("Choices") or []):
        found.append((rule.get("Next"), f"/States/{name}/Choices[{index}]/Next"))
    for index, catcher in enumerate(state.get("Catch") or []):
        found.append((catcher.get("Next"), f"/States/{name}/Catch[{index}]/Next"))
    return found


def check(text: str | None) -> None:
    try:
        definition = json.loads(text or "")
    except ValueError as error:
        raise InvalidDefinition("INVALID_JSON_DESCRIPTION", str(error)) from None
    states = definition.get("States") if isinstance(definition, dict) else None
    if not isinstance(states, dict) or not states or "StartAt" not in definition:
        raise InvalidDefinition(SCHEMA, "These fields are required: [StartAt, States] at /")
    if definition["StartAt"] not in states:
        raise InvalidDefinition(MISSING, f"Missing 'Next' target: {definition['StartAt']} at /StartAt")
    for name, state in states.items():
        kind = state.get("Type") if isinstance(state, dict) else None
        if kind not in TYPES:
            raise InvalidDefinition(SCHEMA, f"{kind!r} is not a valid state type at /States/{name}/Type")
        if kind not in TERMINAL and ("Next" in state) == bool(state.get("End")):
            raise InvalidDefinition(SCHEMA, f"Exactly one of [Next, End] is required at /States/{name}")
        if kind == "Choice" and not state.get("Choices"):
            raise InvalidDefinition(SCHEMA, f"These fields are required: [Choices] at /States/{name}")
        for target, where in _targets(name, state):
            if target not in states:
                raise InvalidDefinition(MISSING, f"Missing 'Next' target: {target} at {where}")
    reached, frontier = {definition["StartAt"]}, [definition["StartAt"]]
    while frontier:
        current = frontier.pop()
        for target, _ in _targets(current, states[current]):
            if target not in reached:
                reached.add(target)
                frontier.append(target)
    for name in states:
        if name not in reached:
            raise InvalidDefinition("UNREACHABLE_STATE", f'State "{name}" is not reachable. at /States/{name}')


def create_state_machine(self: Any, name: str, definition: str, roleArn: str, *args: Any, **kwargs: Any) -> Any:
    check(definition)
    return original(StepFunctionBackend, "create_state_machine")(self, name, definition, roleArn, *args, **kwargs)


def update_state_machine(self: Any, arn: str, definition: str | None = None, *args: Any, **kwargs: Any) -> Any:
    if definition is not None:
        check(definition)
    return original(StepFunctionBackend, "update_state_machine")(self, arn, definition, *args, **kwargs)
