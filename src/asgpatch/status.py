"""`asgpatch status`: tagged groups, the AMI they launch and its age, the last result, runs in flight.

Reads only: one discovery, one batched observe (for the template versions), one DescribeImages.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from rich.console import Console
from rich.table import Table

from asgpatch.cloud import Cloud, Discovery
from asgpatch.model import GroupView, Job
from asgpatch.state import REASON_TAG, RESULT_TAG, STATE_TAG, StateError, decode

DAY = 86_400.0


@dataclass(frozen=True)
class GroupStatus:
    name: str
    account: str | None
    region: str | None
    capacity: str
    template: str | None  # "lt-… $Default → 4"
    image_id: str | None
    image_age_days: float | None
    last_result: str | None
    in_flight: str | None  # "run … in phase …", or why the state tag cannot be read


def gather(cloud: Cloud, discovery: Discovery, now: float, account: str = "", region: str = "") -> list[GroupStatus]:
    jobs = [Job(group=g.name, run_id="status") for g in discovery.groups]
    observations = cloud.observe(jobs, now) if jobs else {}
    launched: dict[str, tuple[str, str | None]] = {}
    for group in discovery.groups:
        observation = observations.get(group.name)
        launched[group.name] = _launched(group, observation.templates if observation else {})
    images = cloud.images(sorted({image for _, image in launched.values() if image}))
    rows = []
    for group in discovery.groups:
        template, image_id = launched[group.name]
        image = images.get(image_id or "")
        age = (now - image.created) / DAY if image is not None and image.created is not None else None
        rows.append(GroupStatus(group.name, account or None, region or None, str(group.capacity), template,
                                image_id, age, group.tags.get(RESULT_TAG),
                                _in_flight(group, cloud.trusts(group))))  # fmt: skip
    return rows


def _launched(group: GroupView, templates: Any) -> tuple[str, str | None]:
    if group.template is None:
        return f"launch configuration {group.launch_configuration or '?'}", None
    spec = group.template.main
    view = templates.get(spec.template_id)
    if view is None:
        return f"{spec.template_id} {spec.version} (not found)", None
    number = view.resolve(spec.version)
    shown = f"{view.name or spec.template_id} {spec.version}" + (f" → {number}" if spec.version.startswith("$") else "")
    return shown, view.images.get(number)


def _in_flight(group: GroupView, sealed: bool) -> str | None:
    value = group.tags.get(STATE_TAG)
    if value is None:
        return None
    if not sealed:
        return f"{STATE_TAG} not sealed by asgpatch for this group: runs leave it alone (recover --asg obeys it)"
    try:
        job = decode(group.name, value, group.tags.get(REASON_TAG, ""))
    except StateError as error:
        return f"unreadable {STATE_TAG}: {error}"
    return f"run {job.run_id} in phase {job.phase.value}"


def as_json(rows: Sequence[GroupStatus]) -> dict[str, Any]:
    return {"groups": [asdict(row) for row in rows]}


def render(rows: Sequence[GroupStatus], console: Console) -> None:
    table = Table(title="asgpatch status")
    for column in ("group", "min/max/desired", "launch template", "AMI", "AMI age", "last result", "in flight"):
        table.add_column(column)
    for row in rows:
        age = f"{row.image_age_days:.0f} d" if row.image_age_days is not None else "—"
        table.add_row(row.name, row.capacity, row.template or "—", row.image_id or "—", age,
                      row.last_result or "—", row.in_flight or "—")  # fmt: skip
    console.print(table)
