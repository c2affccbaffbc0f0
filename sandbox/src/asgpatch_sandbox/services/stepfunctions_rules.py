"""The decisions inside states: Choice rules, which Retry/Catch an error matches, how long a Wait lasts.

Pure functions of the state's definition and data, so the interpreter (stepfunctions_states.py) only
sequences them on the sandbox clock. Type mismatches in a Choice are false, as on AWS; a Variable
that is not there is `States.Runtime` (only IsPresent may ask about a missing path).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from asgpatch_sandbox.services.stepfunctions_paths import evaluate, lookup, present, runtime_error

ALL, TASK_FAILED, TIMEOUT, RUNTIME = "States.ALL", "States.TaskFailed", "States.Timeout", "States.Runtime"

_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "Equals": operator.eq,
    "LessThan": operator.lt,
    "GreaterThan": operator.gt,
    "LessThanEquals": operator.le,
    "GreaterThanEquals": operator.ge,
}


def timestamp(value: Any) -> float | None:
    """An RFC 3339 timestamp as epoch seconds, or None when the value is not one."""
    if not isinstance(value, str) or "T" not in value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.timestamp() if parsed.tzinfo is not None else None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _wildcard(text: str, pattern: str) -> bool:
    """StringMatches: `*` is any run of characters, `\\*` a star."""
    regex, index = "", 0
    while index < len(pattern):
        if pattern.startswith("\\*", index):
            regex, index = regex + re.escape("*"), index + 2
        elif pattern[index] == "*":
            regex, index = regex + ".*", index + 1
        else:
            regex, index = regex + re.escape(pattern[index]), index + 1
    return re.fullmatch(regex, text, flags=re.DOTALL) is not None


def _compare(kind: str, test: str, actual: Any, expected: Any) -> bool:
    if kind == "String":
        if not (isinstance(actual, str) and isinstance(expected, str)):
            return False
        return _wildcard(actual, expected) if test == "Matches" else _ORDER[test](actual, expected)
    if kind == "Numeric":
        return _is_number(actual) and _is_number(expected) and _ORDER[test](actual, expected)
    if kind == "Boolean":
        return isinstance(actual, bool) and isinstance(expected, bool) and actual == expected
    left, right = timestamp(actual), timestamp(expected)
    return left is not None and right is not None and _ORDER[test](left, right)


_COMPARISONS = [
    (kind + test, kind, test)
    for kind in ("String", "Numeric", "Timestamp")
    for test in ("Equals", "LessThan", "GreaterThan", "LessThanEquals", "GreaterThanEquals")
] + [("StringMatches", "String", "Matches"), ("BooleanEquals", "Boolean", "Equals")]


def rule_matches(rule: dict[str, Any], value: Any, context: dict[str, Any]) -> bool:
    """One Choice rule (or its And / Or / Not) against the Choice state's effective input."""
    if "And" in rule:
        return all(rule_matches(r, value, context) for r in rule["And"])
    if "Or" in rule:
        return any(rule_matches(r, value, context) for r in rule["Or"])
    if "Not" in rule:
        return not rule_matches(rule["Not"], value, context)
    variable = rule.get("Variable")
    if not isinstance(variable, str):
        raise runtime_error("A Choice rule needs a Variable (or And, Or, Not)")
    source = context if variable.startswith("$$") else value
    if "IsPresent" in rule:
        return present(source, variable) == bool(rule["IsPresent"])
    actual = lookup(source, variable)
    kinds = {
        "IsNull": actual is None,
        "IsNumeric": _is_number(actual),
        "IsString": isinstance(actual, str),
        "IsBoolean": isinstance(actual, bool),
        "IsTimestamp": timestamp(actual) is not None,
    }
    for name, outcome in kinds.items():
        if name in rule:
            return outcome == bool(rule[name])
    for name, kind, test in _COMPARISONS:
        if name in rule:
            return _compare(kind, test, actual, rule[name])
        if name + "Path" in rule:
            return _compare(kind, test, actual, evaluate(rule[name + "Path"], value, context))
    raise runtime_error(f"The Choice rule on {variable} has no comparison the sandbox knows")


def choose(state: dict[str, Any], value: Any, context: dict[str, Any]) -> str | None:
    """The Next of the first matching rule, else Default (None: no match, States.NoChoiceMatched)."""
    for rule in state.get("Choices", []):
        if rule_matches(rule, value, context):
            return str(rule["Next"])
    default = state.get("Default")
    return str(default) if default is not None else None


def error_matches(names: list[str], error: str) -> bool:
    """ErrorEquals: States.ALL matches any error, States.TaskFailed any but States.Timeout; neither
    matches States.Runtime, which no Retry or Catch can handle."""
    if error == RUNTIME:
        return False
    return any(name in (ALL, error) or (name == TASK_FAILED and error != TIMEOUT) for name in names)


def retry_delay(retrier: dict[str, Any], attempt: int) -> float:
    """Seconds before retry number `attempt + 1`: IntervalSeconds * BackoffRate^attempt, capped by MaxDelaySeconds."""
    delay = float(retrier.get("IntervalSeconds", 1)) * float(retrier.get("BackoffRate", 2.0)) ** attempt
    cap = retrier.get("MaxDelaySeconds")
    return min(delay, float(cap)) if cap is not None else delay


def wait_until(state: dict[str, Any], value: Any, context: dict[str, Any], now: float) -> float:
    """When a Wait state is over, on the sandbox clock (a Timestamp in the past is over at once)."""
    if "Seconds" in state or "SecondsPath" in state:
        seconds = state["Seconds"] if "Seconds" in state else evaluate(state["SecondsPath"], value, context)
        if not _is_number(seconds) or seconds < 0 or int(seconds) != seconds:
            raise runtime_error(f"The Wait state's seconds must be a non-negative integer, not {seconds!r}")
        return now + float(seconds)
    if "Timestamp" in state or "TimestampPath" in state:
        raw = state["Timestamp"] if "Timestamp" in state else evaluate(state["TimestampPath"], value, context)
        moment = timestamp(raw)
        if moment is None:
            raise runtime_error(f"The Wait state's timestamp is not an RFC 3339 timestamp: {raw!r}")
        return max(now, moment)
    raise runtime_error("A Wait state needs Seconds, SecondsPath, Timestamp or TimestampPath")
