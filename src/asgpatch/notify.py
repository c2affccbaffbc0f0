"""SNS messages for a finished run: one summary, and one per failed group.

Building a message is pure (tested without AWS); `notify` only hands them to `Cloud.publish`. Why every
message carries `status` (and `group`) message attributes: subscribers filter on them with an SNS filter
policy, e.g. {"status": ["failed"]} to page someone only when a group failed.

SNS limits honoured here: a subject is ASCII without control characters and under 100 characters; a
message is at most 256 KiB with its attributes, so a huge report's JSON is left out rather than refused.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from asgpatch.cloud import Cloud
from asgpatch.report import summary_line

SUBJECT_LIMIT = 99  # SNS: "less than 100 characters"
MESSAGE_LIMIT = 256 * 1024 - 4 * 1024  # bytes; leaves room for the message attributes
_ELLIPSIS = "..."
_TOO_LARGE = "(The JSON is left out: it is larger than an SNS message can carry. See the run's --report file.)"


@dataclass(frozen=True)
class Notification:
    subject: str
    message: str
    attributes: Mapping[str, str]


def _ascii_line(text: str) -> str:
    """What SNS accepts in a subject: printable ASCII on one line (anything else becomes '?', runs of
    whitespace one space)."""
    printable = "".join(" " if char.isspace() else char if " " <= char <= "~" else "?" for char in text)
    return re.sub(" {2,}", " ", printable)


def _subject(head: str, variable: str, tail: str = "") -> str:
    """head + variable + tail within SUBJECT_LIMIT, shortening the variable part (a group name can be 255
    characters) so the words around it survive."""
    head, variable, tail = _ascii_line(head), _ascii_line(variable).strip(), _ascii_line(tail)
    room = SUBJECT_LIMIT - len(head) - len(tail)
    if len(variable) > room:
        variable = variable[: max(0, room - len(_ELLIPSIS))] + _ELLIPSIS
    return _ascii_line(head + variable + tail).strip()[:SUBJECT_LIMIT]


def _size(text: str) -> int:
    return len(text.encode("utf-8"))


def _fit(body: str, appendix: str) -> str:
    """The body with the JSON appended, or without it (and cut, at worst) when SNS would refuse the size."""
    whole = f"{body}\n\n{appendix}\n"
    if _size(whole) <= MESSAGE_LIMIT:
        return whole
    room = MESSAGE_LIMIT - _size(_TOO_LARGE) - 2
    cut = body.encode("utf-8")[:room].decode("utf-8", errors="ignore")
    return f"{cut}\n\n{_TOO_LARGE}"


def run_status(report: Mapping[str, Any]) -> str:
    """The summary's status attribute: "failed" when any group failed, else "succeeded"."""
    return "failed" if any(group["status"] == "failed" for group in report["groups"]) else "succeeded"


def _version_change(template: Mapping[str, Any]) -> str:
    previous, new = template["previous_version"], template["version"]
    if template["id"] is None:
        return "-"
    return f"{template['id']} version {previous if previous is not None else '-'} -> {new if new is not None else '-'}"


def _capacity(capacity: Mapping[str, Any]) -> str:
    if capacity["min"] is None:
        return "-"
    return f"{capacity['min']}/{capacity['max']}/{capacity['desired']} (min/max/desired)"


def _group_line(group: Mapping[str, Any]) -> str:
    line = f"- {group['name']}: {group['status']}"
    if group["image_id"]:
        line += f", AMI {group['image_id']}"
    if group["reason"]:
        line += f" ({group['reason']})"
    return line


def summary_message(report: Mapping[str, Any]) -> Notification:
    """One message per run: the totals in the subject, a line per group and the whole report in the body."""
    status = run_status(report)
    totals = summary_line(report)
    body = "\n".join(
        [
            f"asgpatch run {report['run_id']} {status}: {totals}.",
            f"Started {report['started_at']}, finished {report['finished_at']}.",
            "",
            *(_group_line(group) for group in report["groups"]),
        ]
    )
    return Notification(
        subject=_subject(f"asgpatch {status}: ", totals, f" (run {report['run_id']})"),
        message=_fit(body, json.dumps(report, indent=2, ensure_ascii=False)),
        attributes={"status": status, "run_id": report["run_id"]},
    )


def _failure_message(run_id: str, group: Mapping[str, Any]) -> Notification:
    body = "\n".join(
        [
            f"Auto Scaling group {group['name']} failed in asgpatch run {run_id}.",
            f"Reason: {group['reason'] or 'not recorded'}",
            f"Capacity now: {_capacity(group['capacity'])}",
            f"Patch instance: {group['instance_id'] or '-'}; AMI: {group['image_id'] or '-'}",
            f"Launch template: {_version_change(group['launch_template'])}",
        ]
    )
    return Notification(
        subject=_subject("asgpatch failed: ", group["name"], f" (run {run_id})"),
        message=_fit(body, json.dumps(group, indent=2, ensure_ascii=False)),
        attributes={"status": "failed", "group": group["name"], "run_id": run_id},
    )


def failure_messages(report: Mapping[str, Any]) -> list[Notification]:
    """One message per failed group, so a subscriber can filter on the group attribute."""
    return [_failure_message(report["run_id"], group) for group in report["groups"] if group["status"] == "failed"]


def abandoned_message(report: Mapping[str, Any], why: str) -> Notification:
    """The run itself failed (the deployed form gave it up): what happened, and where each group is now."""
    body = "\n".join([
        f"asgpatch run {report['run_id']} was given up: {why}.",
        "Every group it held was put back as it was (capacity, processes); no group started after this.",
        "",
        *(_group_line(group) for group in report["groups"]),
    ])  # fmt: skip
    return Notification(
        subject=_subject("asgpatch run failed: ", str(report["run_id"]), " (groups restored)"),
        message=_fit(body, json.dumps(report, indent=2, ensure_ascii=False)),
        attributes={"status": "failed", "run_id": str(report["run_id"])},
    )


def notify(cloud: Cloud, topic_arn: str, report: Mapping[str, Any], given_up: str = "") -> list[str]:
    """Publish the summary, then the failures (first, with `given_up`, that the run itself failed and
    why). Returns one error line per message not sent, and never raises: the run's outcome is already
    decided, and a notification problem must not turn it into a failure or lose the report."""
    errors: list[str] = []
    first = [abandoned_message(report, given_up)] if given_up else []
    for note in [*first, summary_message(report), *failure_messages(report)]:
        try:
            cloud.publish(topic_arn, note.subject, note.message, note.attributes)
        except Exception as error:  # any failure, even a bug in an adapter, is reported, not raised
            errors.append(f"SNS message {note.subject!r} to {topic_arn} not sent: {error}")
    return errors
