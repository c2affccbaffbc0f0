"""What a Lambda invocation asks for, read from its event: which run, tick or restore, and the deadline.

Three callers send three shapes, all answered by the same handler:
- the state machine: `{"action": "tick"|"restore", "run": {"execution", "started"}, "window": {...},
  "error": {...}}` — the run's state is `s3://$ASGPATCH_RUN_BUCKET/runs/<execution>.json`, and the
  deadline the window's end: started + (duration_hours - cutoff_hours), from the window's input or else
  the stack's ASGPATCH_WINDOW_HOURS / ASGPATCH_CUTOFF_HOURS;
- the stack's EventBridge rule, with a "Step Functions Execution Status Change" event of an execution
  that failed, timed out or was aborted: restore that execution's run;
- a person or script: `{"state": "s3://BUCKET/KEY", "deadline": ISO 8601}` — one tick of that run.
Pure: the event and the environment in, a Request out; ValueError names what is wrong.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from asgpatch.config_values import Invalid, moment

STATUS_CHANGE = "Step Functions Execution Status Change"
EXECUTION_NAME = re.compile(r"^[A-Za-z0-9_\-.:]{1,80}$")  # what an S3 key may safely hold of it
RUN_PREFIX = "runs/"


@dataclass(frozen=True)
class Request:
    action: str  # "tick" or "restore"
    location: str  # s3://bucket/key of the run's state
    deadline: float | None = None
    why: str = ""  # for a restore: what the run failed of


def _when(value: object, label: str) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value) / 1000.0  # EventBridge's startDate: epoch milliseconds
    try:
        found = moment(value, True)
    except Invalid as error:
        raise ValueError(error.template.format(label=label, got=repr(value))) from None
    assert found is not None
    return found


def _hours(window: Mapping[str, Any], environ: Mapping[str, str], key: str, variable: str) -> float | None:
    value = window.get(key, environ.get(variable) or None)
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"the window's {key} must be a number of hours (got {value!r})") from None


def _run_location(execution: object, environ: Mapping[str, str]) -> str:
    bucket = environ.get("ASGPATCH_RUN_BUCKET") or ""
    if not bucket:
        raise ValueError("ASGPATCH_RUN_BUCKET is not set: the function does not know where runs keep their state")
    if not isinstance(execution, str) or not EXECUTION_NAME.match(execution):
        raise ValueError(f"the execution name must be 1-80 letters, digits, - _ . or : (got {execution!r})")
    return f"s3://{bucket}/{RUN_PREFIX}{execution}.json"


def _failure(error: object) -> str:
    if not isinstance(error, Mapping):
        return "a tick failed after its retries"
    cause = " ".join(str(error.get("Cause") or "").split())[:300]
    return f"a tick failed after its retries ({error.get('Error') or 'error'}{': ' + cause if cause else ''})"


def read(event: Mapping[str, Any], environ: Mapping[str, str]) -> Request:
    if not isinstance(event, Mapping):
        raise ValueError(f"the event must be a JSON object (got {type(event).__name__})")
    if event.get("detail-type") == STATUS_CHANGE:
        detail = event.get("detail") or {}
        status = str(detail.get("status") or "ended")
        return Request("restore", _run_location(detail.get("name"), environ),
                       why=f"its execution {status.lower().replace('_', ' ')}")  # fmt: skip
    action = str(event.get("action") or "tick")
    if action not in ("tick", "restore"):
        raise ValueError(f"the event's action must be tick or restore (got {action!r})")
    deadline = _when(event["deadline"], "the event's deadline") if event.get("deadline") else None
    if "state" in event:
        location = str(event.get("state") or "")
        if not location.startswith("s3://"):
            raise ValueError(f"the event's state must be an s3:// location (got {location!r})")
        return Request(action, location, deadline, _failure(event.get("error")) if action == "restore" else "")
    run = event.get("run")
    if not isinstance(run, Mapping):
        raise ValueError('the event needs "state" (an s3:// location) or "run" (the execution\'s name and start)')
    location = _run_location(run.get("execution"), environ)
    given = event.get("window")
    window: Mapping[str, Any] = given if isinstance(given, Mapping) else {}
    duration = _hours(window, environ, "duration_hours", "ASGPATCH_WINDOW_HOURS")
    cutoff = _hours(window, environ, "cutoff_hours", "ASGPATCH_CUTOFF_HOURS") or 0.0
    if deadline is None and duration is not None and run.get("started"):
        deadline = _when(run["started"], "the execution's start") + (duration - cutoff) * 3600.0
    return Request(action, location, deadline, _failure(event.get("error")) if action == "restore" else "")
