"""The deployed form's state machine, checked as a graph (cfn-lint cannot read a DefinitionString): every
Next exists, every state is reachable, every path ends in success or passes through the restore, the
loop waits between ticks, and the Lambda's answers are read by the fields the handler returns."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from asgpatch.stack.state_machine import FUNCTION, TIMEOUT_SECONDS, definition

MACHINE = definition()
STATES: dict[str, Any] = MACHINE["States"]


def successors(state: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(how, next state) for every way out of a state."""
    if "Next" in state:
        yield "next", state["Next"]
    for choice in state.get("Choices", []):
        yield "choice", choice["Next"]
    if "Default" in state:
        yield "default", state["Default"]
    for catch in state.get("Catch", []):
        yield "catch", catch["Next"]


def test_every_next_names_a_state_and_every_state_is_reachable():
    assert MACHINE["StartAt"] in STATES
    for name, state in STATES.items():
        for _, target in successors(state):
            assert target in STATES, f"{name} goes to {target}, which is no state"
        terminal = state["Type"] in ("Succeed", "Fail") or state.get("End") is True
        assert terminal or "Next" in state or state["Type"] == "Choice", f"{name} neither ends nor goes on"
    seen, todo = set(), [MACHINE["StartAt"]]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo += [target for _, target in successors(STATES[name])]
    assert seen == set(STATES), f"unreachable: {set(STATES) - seen}"


def paths(name: str, trail: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every path from `name` to an end, each loop taken once."""
    trail = (*trail, name)
    state = STATES[name]
    nexts = [target for _, target in successors(state) if target not in trail]
    if state["Type"] in ("Succeed", "Fail") or state.get("End") or not nexts:
        yield trail
    for target in nexts:
        yield from paths(target, trail)


def test_every_path_ends_in_success_or_goes_through_the_restore():
    for path in paths(MACHINE["StartAt"]):
        end = STATES[path[-1]]
        if end["Type"] == "Fail":
            assert "Restore" in path, f"{' → '.join(path)} fails without restoring"
        else:
            assert end.get("End") or end["Type"] == "Succeed" or path[-1] == "Wait", " → ".join(path)


def test_every_task_catches_every_error():
    for name, state in STATES.items():
        if state["Type"] == "Task":
            assert any("States.ALL" in c["ErrorEquals"] for c in state["Catch"]), f"{name} lets an error through"
            assert any("States.ALL" in r["ErrorEquals"] for r in state["Retry"]), f"{name} is not retried"


def test_the_loop_ticks_then_waits_as_long_as_the_tick_says():
    assert STATES["Tick"]["Next"] == "Done?" and STATES["Done?"]["Default"] == "Wait"
    assert STATES["Wait"] == {"Type": "Wait", "SecondsPath": "$.tick.wait_seconds", "Next": "Tick"}
    (done,) = STATES["Done?"]["Choices"]
    assert (done["Variable"], done["BooleanEquals"], done["Next"]) == ("$.tick.done", True, "Report")


def test_the_tasks_call_the_engine_with_the_events_the_handler_reads_and_read_what_it_answers():
    from asgpatch.lambda_handler import handler

    assert callable(handler)
    tick, restore = STATES["Tick"], STATES["Restore"]
    for task, action in ((tick, "tick"), (restore, "restore")):
        assert task["Resource"] == "arn:aws:states:::lambda:invoke"
        assert task["Parameters"]["FunctionName"] == FUNCTION
        assert task["Parameters"]["Payload"]["action"] == action
    answered = {"done", "wait_seconds", "run_id", "report", "counts"}
    assert {key.removesuffix(".$") for key in tick["ResultSelector"]} == answered
    report = STATES["Report"]["Parameters"]
    assert set(report) == {"run_id.$", "report.$", "counts.$"}, "the execution's output: run_id, report, counts"


def test_an_execution_outlives_the_longest_window():
    assert TIMEOUT_SECONDS > 24 * 3600


def test_aws_own_parser_reads_the_definition():
    """moto's copy of the Step Functions interpreter's parser (LocalStack's) accepts it as it is."""
    parser = pytest.importorskip("moto.stepfunctions.parser.asl.parse.asl_parser")
    text = json.dumps(MACHINE).replace(FUNCTION, "arn:aws:lambda:us-east-1:123456789012:function:asgpatch")
    program = parser.AmazonStateLanguageParser.parse(text)
    assert program is not None
