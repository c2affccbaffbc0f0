"""EventBridge rules that deliver to SNS topics and Lambda functions.

moto delivers a matching event only to logs, SQS, archives, buses and API destinations, and fails a
PutEvents whose rule targets SNS; nor does anything in moto put AWS's own service events. Here the
sandbox's services put events with `put_event` (Step Functions' status changes), PutEvents goes the
same way, and a rule that is ENABLED and whose EventPattern matches (moto's own matcher) delivers:
to SNS through moto's SNS backend (so the topic's subscriptions get it; an SQS queue receives it),
to Lambda as an asynchronous invocation over HTTP from a thread; other targets stay moto's.
Input, InputPath and InputTransformer shape what is sent, as AWS documents them.
"""

from __future__ import annotations

import copy
import json
import logging
import uuid
from datetime import UTC, datetime
from typing import Any

from moto.events.exceptions import ValidationException
from moto.events.models import EventPattern, Rule

from asgpatch_sandbox.override import original
from asgpatch_sandbox.services.stepfunctions_paths import StatesError, lookup
from asgpatch_sandbox.world import World, current

log = logging.getLogger("asgpatch_sandbox")
_OURS = ("sns", "lambda")


def put_event(
    world: World,
    region: str,
    source: str,
    detail_type: str,
    detail: dict[str, Any],
    resources: list[str],
    at: float,
) -> None:
    """An AWS service's event on the region's default bus, at sandbox time `at` (never fails its caller)."""
    from moto.events.models import events_backends

    try:
        bus = events_backends[world.account_id][region].event_buses.get("default")
    except KeyError:
        return
    if bus is None:
        return
    event: dict[str, Any] = {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": source,
        "account": world.account_id,
        "time": at,  # epoch seconds, as moto keeps it; delivered as ISO 8601
        "region": region,
        "resources": list(resources),
        "detail": detail,
        "ingestion-time": at,
    }
    for rule in list(bus.rules.values()):
        try:
            send: Any = rule.send_to_targets  # replaced: send_to_targets below
            send(copy.deepcopy(event))
        except Exception:
            log.warning("EventBridge rule %s could not deliver an event", rule.name, exc_info=True)


def _service(target: dict[str, Any]) -> str:
    parts = str(target.get("Arn", "")).split(":")
    return parts[2] if len(parts) > 2 else ""


def send_to_targets(self: Any, original_event: dict[str, Any], transform_input: bool = True) -> None:
    """Rule.send_to_targets: nothing for a DISABLED rule; SNS and Lambda targets delivered here."""
    if not str(self.state).startswith("ENABLED") or not self.event_pattern.matches_event(original_event):
        return
    for target in [t for t in self.targets if _service(t) in _OURS]:
        try:
            _deliver(self, target, original_event)
        except Exception:  # AWS counts a FailedInvocation; the event's other targets still get it
            log.warning("EventBridge could not deliver to %s", target.get("Arn"), exc_info=True)
    others = [t for t in self.targets if _service(t) not in _OURS]
    if others:
        everyone, self.targets = self.targets, others
        try:
            original(Rule, "send_to_targets")(self, original_event, transform_input)
        finally:
            self.targets = everyone


_EVENT_FIELDS = ("id", "account", "source", "time", "region", "resources", "detail-type")


def test_event_pattern(self: Any) -> str:
    """TestEventPattern with the matcher rules use (moto answered nothing): the event needs AWS's fields."""
    pattern = EventPattern.load(self._get_param("EventPattern"))  # InvalidEventPatternException
    try:
        event = json.loads(self._get_param("Event") or "")
    except ValueError:
        raise ValidationException("Parameter Event is not valid.") from None
    if not isinstance(event, dict) or any(name not in event for name in _EVENT_FIELDS):
        missing = [name for name in _EVENT_FIELDS if not isinstance(event, dict) or name not in event]
        raise ValidationException(f"Parameter Event is not valid. Reason: the event has no {', '.join(missing)}")
    matches: Any = pattern.matches_event  # moto types the event as its TypedDict
    return json.dumps({"Result": bool(matches(event))})


def _deliver(rule: Any, target: dict[str, Any], event: dict[str, Any]) -> None:
    from moto.sns.models import sns_backends

    from asgpatch_sandbox.services.stepfunctions_lambda import invoke_async

    text = target_input(rule, target, event)
    arn = str(target["Arn"])
    _, _, service, region, account = arn.split(":")[:5]
    if service == "sns":
        sns_backends[account or rule.account_id][region or rule.region_name].publish(text, arn=arn)
    else:
        invoke_async(current(), region or rule.region_name, arn, text)


def iso(seconds: Any) -> str:
    if isinstance(seconds, str):
        return seconds
    return datetime.fromtimestamp(float(seconds), tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _visible(event: dict[str, Any]) -> dict[str, Any]:
    """The event as a target sees it: AWS's fields in AWS's order, the time in ISO 8601."""
    keys = ("version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail")
    shown = {key: event[key] for key in keys if key in event}
    shown["time"] = iso(event.get("time", 0))
    return shown


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def target_input(rule: Any, target: dict[str, Any], event: dict[str, Any]) -> str:
    """What the target receives: Input (constant JSON), the part InputPath selects, the
    InputTransformer's template filled in, or else the whole event."""
    shown = _visible(event)
    if target.get("Input") is not None:
        return str(target["Input"])
    if target.get("InputPath"):
        return _dumps(_pick(shown, str(target["InputPath"])))
    transformer = target.get("InputTransformer")
    if transformer:
        return transform(rule, transformer, shown, event)
    return _dumps(shown)


def _pick(event: dict[str, Any], path: str) -> Any:
    try:
        return lookup(event, path, None)
    except StatesError:
        return None


def transform(rule: Any, transformer: dict[str, Any], shown: dict[str, Any], event: dict[str, Any]) -> str:
    """InputTemplate with each <name> filled in: a string inside quotes as its (escaped) text; outside
    quotes as a JSON string in a JSON template, as plain text in a text template; others as JSON."""
    paths = transformer.get("InputPathsMap") or {}
    values: dict[str, Any] = {name: _pick(shown, str(path)) for name, path in paths.items()}
    values.update({
        "aws.events.rule-arn": rule.arn,
        "aws.events.rule-name": rule.name,
        "aws.events.event.ingestion-time": iso(event.get("ingestion-time", event.get("time", 0))),
        "aws.events.event": {k: v for k, v in shown.items() if k != "detail"},
        "aws.events.event.json": shown,
    })  # fmt: skip
    template = str(transformer.get("InputTemplate", ""))
    as_json = template.lstrip().startswith(("{", "["))
    out: list[str] = []
    quoted, index = False, 0
    while index < len(template):
        char = template[index]
        if char == "\\" and quoted:
            out.append(template[index : index + 2])
            index += 2
            continue
        if char == '"':
            quoted = not quoted
        elif char == "<":
            end = template.find(">", index)
            name = template[index + 1 : end] if end > index else ""
            if name in values:
                out.append(_fill(values[name], quoted, as_json))
                index = end + 1
                continue
        out.append(char)
        index += 1
    return "".join(out)


def _fill(value: Any, quoted: bool, as_json: bool) -> str:
    if quoted:
        text = value if isinstance(value, str) else ("" if value is None else _dumps(value))
        return json.dumps(text)[1:-1]
    if isinstance(value, str):
        return json.dumps(value) if as_json else value
    return _dumps(value)
