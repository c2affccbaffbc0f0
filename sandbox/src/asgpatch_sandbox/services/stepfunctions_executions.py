"""Step Functions executions that run: started by the API, by CloudFormation's state machines, or by
the sandbox itself (an SSM Maintenance Window), all through moto's `StepFunctionBackend.start_execution`.

moto stored an execution RUNNING forever (or ran it in LocalStack's interpreter, in threads that sleep
on the wall clock and in a backend of its own that CloudFormation's machines are not in). Here each
execution is a `Run` (stepfunctions_states.py) caught up with the world, beside moto's Execution
record, which it keeps up to date for DescribeExecution and ListExecutions. Every status change is
put to the region's default EventBridge bus as AWS puts it ("Step Functions Execution Status Change").

Starting one from inside the sandbox (the contract): under the world lock, call
`stepfunctions_backends[account][region].start_execution(state_machine_arn, name, execution_input)`
with `name` "" or None for a UUID and `execution_input` a JSON string; it returns moto's Execution
(`.execution_arn`), or raises moto's StateMachineDoesNotExist / ExecutionAlreadyExists /
InvalidExecutionInput / InvalidName. It is visible to DescribeExecution at once; its first states run
in the same catch-up when the caller is a world part advanced before ExecutionsWorld (services.start adds
it last), else at the next one.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from moto.stepfunctions.exceptions import ExecutionAlreadyExists, InvalidExecutionInput
from moto.stepfunctions.models import Execution

from asgpatch_sandbox.services.events_delivery import put_event
from asgpatch_sandbox.services.stepfunctions_lambda import start_call
from asgpatch_sandbox.services.stepfunctions_states import Run, TaskCall, TaskRequest
from asgpatch_sandbox.world import World, current

SOURCE, DETAIL_TYPE = "aws.states", "Step Functions Execution Status Change"


def moment(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


class ExecutionsWorld:
    """Every execution the sandbox runs, by ARN; those still RUNNING are caught up at each request."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.runs: dict[str, Run] = {}
        self.records: dict[str, Execution] = {}  # moto's view of each run, for its describe/list answers
        self.running: dict[str, Run] = {}

    def advance(self, region: str, now: float) -> None:
        for run in [r for r in self.running.values() if r.region == region]:
            run.advance(now, self._start_task)

    def _start_task(self, request: TaskRequest) -> TaskCall:
        return start_call(self.world, request)

    def add(self, run: Run, record: Execution) -> None:
        self.runs[run.arn], self.records[run.arn], self.running[run.arn] = run, record, run

    def changed(self, run: Run) -> None:
        record = self.records[run.arn]
        record.status, record.output, record.error, record.cause = run.status, run.output, run.error, run.cause
        record.stop_date = moment(run.stopped) if run.stopped is not None else None
        if run.status != "RUNNING":
            self.running.pop(run.arn, None)
        put_event(
            self.world,
            run.region,
            SOURCE,
            DETAIL_TYPE,
            status_detail(run),
            [run.arn],
            run.stopped if run.stopped is not None else run.started,
        )


def status_detail(run: Run) -> dict[str, Any]:
    """The event's detail, as Step Functions sends it (dates in epoch milliseconds)."""
    redrivable = run.status in ("FAILED", "TIMED_OUT", "ABORTED")
    return {
        "executionArn": run.arn,
        "stateMachineArn": run.machine_arn,
        "name": run.name,
        "status": run.status,
        "startDate": int(run.started * 1000),
        "stopDate": int(run.stopped * 1000) if run.stopped is not None else None,
        "input": run.input_text,
        "output": run.output,
        "inputDetails": {"included": True},
        "outputDetails": {"included": True} if run.output is not None else None,
        "error": run.error,
        "cause": run.cause,
        "redriveCount": 0,
        "redriveDate": None,
        "redriveStatus": "REDRIVABLE" if redrivable else "NOT_REDRIVABLE",
        "redriveStatusReason": "" if redrivable else f"Execution is {run.status} and cannot be redriven",
    }


def executions() -> ExecutionsWorld:
    return current().part(ExecutionsWorld)


# --- moto's StepFunctionBackend, replaced ------------------------------------------------------------
def start_execution(self: Any, state_machine_arn: str, name: str | None, execution_input: str | None) -> Execution:
    """A name in use is ExecutionAlreadyExists, unless the same input is still RUNNING (AWS answers that
    execution again); an unnamed execution gets a UUID name."""
    if name:
        self._validate_name(name)
    machine = self.describe_state_machine(state_machine_arn)
    text = "{}" if execution_input is None else execution_input
    try:
        json.loads(text)
    except ValueError as error:
        raise InvalidExecutionInput(f"Invalid State Machine Execution Input: '{error}'") from None
    name = name or str(uuid.uuid4())
    for existing in machine.executions:
        if existing.name == name:
            if existing.execution_input == text and existing.status == "RUNNING":
                return existing
            raise ExecutionAlreadyExists(f"Execution Already Exists: '{existing.execution_arn}'")
    world = current()
    now = world.clock.now()
    record = Execution(self.region_name, self.account_id, machine.name, name, machine.arn, text)
    record.start_date = moment(now)
    part = world.part(ExecutionsWorld)
    run = Run(
        arn=record.execution_arn,
        name=name,
        machine_arn=machine.arn,
        machine_name=machine.name,
        role_arn=machine.roleArn,
        region=self.region_name,
        definition_text=machine.definition,
        input_text=text,
        started=now,
        changed=part.changed,
    )
    machine.executions.append(record)
    part.add(run, record)
    run.begin()
    return record


def stop_execution(self: Any, execution_arn: str, error: str | None = None, cause: str | None = None) -> Execution:
    """ABORTED now, with the error and cause given; an execution already over is left as it is."""
    record = self.describe_execution(execution_arn)
    run = executions().runs.get(execution_arn)
    if run is not None:
        run.stop(current().clock.now(), error, cause)
    return record
