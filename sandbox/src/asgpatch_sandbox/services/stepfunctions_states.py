"""One Step Functions execution, interpreted on the sandbox clock.

An execution is caught up like every other part of the world: at each catch-up it runs states until
it reaches a Wait (or a Retry's interval) not yet due, or a Task whose Lambda call has not come back.
Time inside an execution is its own cursor — a Wait of an hour ends exactly an hour after it began,
however late the clock is moved — so histories are deterministic. The Lambda call itself runs in a
thread (stepfunctions_lambda.py), because the handler calls the sandbox back and the catch-up holds
the world lock; this module only sees a call that is `done` at some sandbox time.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from asgpatch_sandbox.services.stepfunctions_paths import StatesError, place, render, runtime_error, select
from asgpatch_sandbox.services.stepfunctions_rules import (
    RUNTIME,
    TIMEOUT,
    choose,
    error_matches,
    retry_delay,
    wait_until,
)

HISTORY_LIMIT = 25_000  # AWS's hard quota of events per Standard execution
HISTORY_FULL_CAUSE = "The execution reached the maximum number of history events (25000)."
INVOKE = ":states:::lambda:invoke"  # arn:aws:states:::lambda:invoke, in any partition
_DATA = {"truncated": False}
_IN, _OUT = {"inputDetails": _DATA}, {"outputDetails": _DATA}


class TaskCall(Protocol):
    """A Lambda call in flight: `done` once it came back, at sandbox time `finished_at`."""

    @property
    def done(self) -> bool: ...

    finished_at: float
    output: Any
    error: str | None
    cause: str


@dataclass(frozen=True)
class TaskRequest:
    region: str
    integration: bool  # lambda:invoke (the answer wrapped in {"Payload": ...}) or the function's ARN itself
    function: str
    payload: Any
    qualifier: str | None = None
    invocation_type: str = "RequestResponse"


TaskStarter = Callable[[TaskRequest], TaskCall]


class _HistoryFull(Exception):
    pass


def iso_ms(moment: float) -> str:
    """The context object's timestamps: 2026-12-09T05:00:00.123Z."""
    return datetime.fromtimestamp(moment, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


@dataclass
class Run:
    arn: str
    name: str
    machine_arn: str
    machine_name: str
    role_arn: str
    region: str
    definition_text: str
    input_text: str
    started: float
    changed: Callable[[Run], None] = lambda run: None  # called on every status change (EventBridge)
    status: str = "RUNNING"
    stopped: float | None = None
    output: str | None = None
    error: str | None = None
    cause: str | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    states: dict[str, Any] = field(default_factory=dict)
    # where the interpreter is: the state, what it waits for, and the logical time of its last step
    cursor: float = 0.0
    state_name: str = ""
    phase: str = "enter"  # enter | wait | retry | task
    state_input: Any = None
    entered_at: float = 0.0
    task_input: Any = None
    due: float | None = None
    call: TaskCall | None = None
    task_deadline: float | None = None
    retries: dict[int, int] = field(default_factory=dict)
    timeout_at: float | None = None

    def begin(self) -> None:
        """ExecutionStarted; a definition that cannot run fails the execution at once (States.Runtime)."""
        self.cursor = self.started
        self._record("ExecutionStarted", {"input": self.input_text, **_IN, "roleArn": self.role_arn})
        self.changed(self)
        try:
            definition = json.loads(self.definition_text)
            self.states = definition["States"]
            self.state_name = str(definition["StartAt"])
            self.state_input = json.loads(self.input_text)
            if definition.get("TimeoutSeconds") is not None:
                self.timeout_at = self.started + float(definition["TimeoutSeconds"])
        except (ValueError, KeyError, TypeError) as error:
            self._end("FAILED", error=RUNTIME, cause=f"The state machine definition cannot run: {error}")

    # --- catching up --------------------------------------------------------------------------------
    def advance(self, now: float, start_task: TaskStarter) -> None:
        while self.status == "RUNNING":
            due = self._next_due()
            if self.timeout_at is not None and self.timeout_at <= now and (due is None or self.timeout_at < due):
                self.cursor = max(self.cursor, self.timeout_at)
                self._abandon_state("States.Timeout")
                self._end("TIMED_OUT", error=TIMEOUT, cause="The execution ran longer than its TimeoutSeconds.")
                return
            if due is None or due > now:
                return
            self.cursor = max(self.cursor, due)
            try:
                self._step(start_task)
            except _HistoryFull:
                self._end("FAILED", error=RUNTIME, cause=HISTORY_FULL_CAUSE)
            except StatesError as error:  # a path or definition the state cannot use: not catchable
                self._end("FAILED", error=error.error, cause=error.cause)

    def stop(self, now: float, error: str | None, cause: str | None) -> None:
        """StopExecution: ABORTED now, whatever the execution was waiting for."""
        if self.status != "RUNNING":
            return
        self.cursor = max(self.cursor, now)
        with contextlib.suppress(_HistoryFull):
            self._abandon_state(None)
        self._end("ABORTED", error=error, cause=cause)

    def _next_due(self) -> float | None:
        if self.phase == "enter":
            return self.cursor
        if self.phase in ("wait", "retry"):
            return self.due
        finished = self.call.finished_at if self.call is not None and self.call.done else None
        if finished is None:
            return self.task_deadline
        return finished if self.task_deadline is None else min(finished, self.task_deadline)

    def _step(self, start_task: TaskStarter) -> None:
        state = self._state()
        if self.phase == "enter":
            self._enter(state, start_task)
        elif self.phase == "wait":
            self._exit(state, select(self.state_input, state.get("InputPath", "$"), self.context()), "Wait")
        elif self.phase == "retry":
            self._schedule(state, start_task)
        else:
            self._task_answered(state)

    def _state(self) -> dict[str, Any]:
        state = self.states.get(self.state_name)
        if not isinstance(state, dict):
            raise runtime_error(f"The state machine has no state named {self.state_name!r}")
        return state

    def context(self) -> dict[str, Any]:
        """The context object `$$`."""
        return {
            "Execution": {
                "Id": self.arn,
                "Input": json.loads(self.input_text),
                "Name": self.name,
                "RoleArn": self.role_arn,
                "StartTime": iso_ms(self.started),
                "RedriveCount": 0,
            },
            "State": {
                "EnteredTime": iso_ms(self.entered_at),
                "Name": self.state_name,
                "RetryCount": sum(self.retries.values()),
            },
            "StateMachine": {"Id": self.machine_arn, "Name": self.machine_name},
        }

    # --- states ---------------------------------------------------------------------------------------
    def _enter(self, state: dict[str, Any], start_task: TaskStarter) -> None:
        kind = str(state.get("Type"))
        self.entered_at, self.retries = self.cursor, {}
        self._record(f"{kind}StateEntered", {"name": self.state_name, "input": dumps(self.state_input), **_IN})
        context = self.context()
        effective = select(self.state_input, state.get("InputPath", "$"), context)
        if kind == "Pass":
            result = render(state["Parameters"], effective, context) if "Parameters" in state else effective
            result = state.get("Result", result)
            self._exit(state, place(self.state_input, state.get("ResultPath", "$"), result), kind)
        elif kind == "Choice":
            target = choose(state, effective, context)
            if target is None:
                self._end("FAILED", error="States.NoChoiceMatched", cause=f"No rule of {self.state_name} matched")
                return
            output = select(effective, state.get("OutputPath", "$"), context)
            self._exited("Choice", output)
            self._go(target, output)
        elif kind == "Wait":
            self.phase, self.due = "wait", wait_until(state, effective, context, self.cursor)
        elif kind == "Succeed":
            output = select(effective, state.get("OutputPath", "$"), context)
            self._exited("Succeed", output)
            self._end("SUCCEEDED", output=output)
        elif kind == "Fail":
            error, cause = (
                state.get(key) or (select(effective, state[key + "Path"], context) if key + "Path" in state else None)
                for key in ("Error", "Cause")
            )
            self._end("FAILED", error=error, cause=cause)
        elif kind == "Task":
            self.task_input = render(state["Parameters"], effective, context) if "Parameters" in state else effective
            self._schedule(state, start_task)
        else:
            raise runtime_error(f"The sandbox does not run {kind} states (state {self.state_name})")

    def _exit(self, state: dict[str, Any], value: Any, kind: str) -> None:
        output = select(value, state.get("OutputPath", "$"), self.context())
        self._exited(kind, output)
        if state.get("End"):
            self._end("SUCCEEDED", output=output)
        else:
            self._go(str(state.get("Next")), output)

    def _exited(self, kind: str, output: Any) -> None:
        self._record(f"{kind}StateExited", {"name": self.state_name, "output": dumps(output), **_OUT})

    def _go(self, target: str, output: Any) -> None:
        if target not in self.states:
            raise runtime_error(f"The state machine has no state named {target!r}")
        self.state_name, self.state_input, self.phase = target, output, "enter"
        self.call = self.due = self.task_deadline = None

    # --- Task: a Lambda call, its answer, Retry and Catch ---------------------------------------------
    def _request(self, state: dict[str, Any]) -> TaskRequest:
        resource = str(state.get("Resource", ""))
        if resource.endswith(INVOKE):
            parameters = self.task_input if isinstance(self.task_input, dict) else {}
            function = parameters.get("FunctionName")
            if not isinstance(function, str) or not function:
                raise runtime_error("lambda:invoke needs Parameters.FunctionName")
            invocation = str(parameters.get("InvocationType", "RequestResponse"))
            return TaskRequest(
                self.region, True, function, parameters.get("Payload"), parameters.get("Qualifier"), invocation
            )
        if ":lambda:" in resource and ":function:" in resource:
            return TaskRequest(self.region, False, resource, self.task_input)
        raise runtime_error(f"The sandbox runs only Lambda tasks, not {resource!r}")

    def _schedule(self, state: dict[str, Any], start_task: TaskStarter) -> None:
        request = self._request(state)
        timeout = state.get("TimeoutSeconds")
        if timeout is None and "TimeoutSecondsPath" in state:
            timeout = select(self.state_input, state["TimeoutSecondsPath"], self.context())
        if request.integration:
            scheduled: dict[str, Any] = {"resourceType": "lambda", "resource": "invoke", "region": self.region}
            scheduled["parameters"] = dumps(self.task_input)
            if timeout is not None:
                scheduled["timeoutInSeconds"] = int(timeout)
            self._record("TaskScheduled", scheduled)
            self._record("TaskStarted", {"resourceType": "lambda", "resource": "invoke"})
        else:
            scheduled = {"resource": request.function, "input": dumps(self.task_input), "inputDetails": _DATA}
            if timeout is not None:
                scheduled["timeoutInSeconds"] = int(timeout)
            self._record("LambdaFunctionScheduled", scheduled)
            self._record("LambdaFunctionStarted", None)
        self.phase, self.due = "task", None
        self.task_deadline = self.cursor + float(timeout) if timeout is not None else None
        self.call = start_task(request)

    def _task_answered(self, state: dict[str, Any]) -> None:
        call, integration = self.call, str(state.get("Resource", "")).endswith(INVOKE)
        assert call is not None
        in_time = call.done and (self.task_deadline is None or call.finished_at <= self.task_deadline)
        self.call = None
        if not in_time:
            self._task_event(integration, "TimedOut", {"error": TIMEOUT, "cause": ""})
            self._handle_error(state, TIMEOUT, "")
        elif call.error is not None:
            self._task_event(integration, "Failed", {"error": call.error, "cause": call.cause})
            self._handle_error(state, call.error, call.cause)
        else:
            self._task_event(integration, "Succeeded", {"output": dumps(call.output), "outputDetails": _DATA})
            context = self.context()
            result = render(state["ResultSelector"], call.output, context) if "ResultSelector" in state else call.output
            self._exit(state, place(self.state_input, state.get("ResultPath", "$"), result), "Task")

    def _task_event(self, integration: bool, outcome: str, details: dict[str, Any]) -> None:
        if integration:
            self._record(f"Task{outcome}", {"resourceType": "lambda", "resource": "invoke", **details})
        else:
            self._record(f"LambdaFunction{outcome}", details)

    def _handle_error(self, state: dict[str, Any], error: str, cause: str) -> None:
        """The first Retry whose ErrorEquals matches retries while it has attempts left; then the first
        matching Catch goes on with {"Error", "Cause"} at its ResultPath; else the execution fails."""
        for index, retrier in enumerate(state.get("Retry", [])):
            if error_matches(retrier.get("ErrorEquals", []), error):
                attempt = self.retries.get(index, 0)
                if attempt < int(retrier.get("MaxAttempts", 3)):
                    self.retries[index] = attempt + 1
                    self.phase, self.due = "retry", self.cursor + retry_delay(retrier, attempt)
                    return
                break
        for catcher in state.get("Catch", []):
            if error_matches(catcher.get("ErrorEquals", []), error):
                output = place(self.state_input, catcher.get("ResultPath", "$"), {"Error": error, "Cause": cause})
                self._exited("Task", output)
                self._go(str(catcher["Next"]), output)
                return
        self._end("FAILED", error=error, cause=cause)

    def _abandon_state(self, error: str | None) -> None:
        """A state cut short by StopExecution or the execution's timeout (its Lambda call is forgotten)."""
        kind = str(self.states.get(self.state_name, {}).get("Type", ""))
        if self.phase in ("task", "retry", "wait"):
            self._record(f"{kind}StateAborted", {"name": self.state_name})
        self.call = None

    # --- the end --------------------------------------------------------------------------------------
    def _end(self, status: str, output: Any = None, error: Any = None, cause: Any = None) -> None:
        self.status, self.stopped = status, self.cursor
        self.phase, self.call = "over", None
        if status == "SUCCEEDED":
            self.output = dumps(output)
            details: dict[str, Any] = {"output": self.output, "outputDetails": _DATA}
        else:
            self.error = None if error is None else str(error)
            self.cause = None if cause is None else str(cause)
            details = {key: value for key, value in (("error", self.error), ("cause", self.cause)) if value is not None}
        kind = {"SUCCEEDED": "Succeeded", "FAILED": "Failed", "TIMED_OUT": "TimedOut", "ABORTED": "Aborted"}[status]
        self._record(f"Execution{kind}", details)
        self.changed(self)

    def _record(self, kind: str, details: dict[str, Any] | None) -> None:
        if len(self.history) >= HISTORY_LIMIT - 1 and not kind.startswith("Execution"):
            raise _HistoryFull
        event: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(self.cursor, tz=UTC),
            "type": kind,
            "id": len(self.history) + 1,
            "previousEventId": len(self.history),
        }
        if details is not None:
            event[_details_key(kind)] = details
        self.history.append(event)


def _details_key(kind: str) -> str:
    """ExecutionStarted → executionStartedEventDetails; TaskStateEntered → stateEnteredEventDetails."""
    if kind.endswith("StateEntered"):
        return "stateEnteredEventDetails"
    if kind.endswith(("StateExited", "StateAborted")):
        return "stateExitedEventDetails"
    return kind[0].lower() + kind[1:] + "EventDetails"
