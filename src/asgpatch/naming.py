"""Natural keys: the names that tie what a run creates to the run, so a retry looks before it creates."""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import UTC, datetime

_AMI_NAME_UNSAFE = re.compile(r"[^a-zA-Z0-9()\[\] ./\-'@_]")


def new_run_id(now: float) -> str:
    """Sortable and short: 20261127T063400Z-3f9a."""
    stamp = datetime.fromtimestamp(now, tz=UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{secrets.token_hex(2)}"


IMAGE_GROUP_TAG, IMAGE_RUN_TAG = "asgpatch:group", "asgpatch:run"  # on every image and snapshot asgpatch makes
AMI_NAME_LIMIT = 128
AMI_DESCRIPTION_LIMIT = 255
GROUP_DIGEST = 12  # hex characters of a hash of the exact group name


def image_name(group: str, run_id: str) -> str:
    """AMI names are unique per account and region (3-128 characters of a small alphabet), group names
    are not in it (1-255 characters, almost any): the name shows as much of the group as fits, made
    safe, and a hash of the exact group name, so `web+a` and `web=a` never share one."""
    digest = hashlib.sha256(group.encode()).hexdigest()[:GROUP_DIGEST]
    suffix = f"-{digest}-{run_id}"
    shown = _AMI_NAME_UNSAFE.sub("_", group)[: AMI_NAME_LIMIT - len("asgpatch-") - len(suffix)]
    return f"asgpatch-{shown}{suffix}"


def image_description(group: str, run_id: str, source_image: str) -> str:
    """CreateImage's Description holds at most 255 characters: the group's name is cut to fit."""
    tail = f" patched by asgpatch run {run_id} from {source_image}"[: AMI_DESCRIPTION_LIMIT - 1]
    return group[: AMI_DESCRIPTION_LIMIT - len(tail)] + tail


def command_comment(run_id: str, group: str) -> str:
    """SendCommand's Comment holds at most 100 characters."""
    return f"asgpatch {run_id} {group}"[:100]


VERSION_SOURCE = re.compile(r"patched image, from version (\d+)$")


def version_description(run_id: str, source_version: int) -> str:
    return f"asgpatch {run_id}: patched image, from version {source_version}"


def version_source(description: str) -> int | None:
    """The version a version_description says it was made from."""
    found = VERSION_SOURCE.search(description)
    return int(found.group(1)) if found else None


def date_of(now: float) -> str:
    return datetime.fromtimestamp(now, tz=UTC).strftime("%Y-%m-%d")


def mentions_run(text: str | None, run_id: str) -> bool:
    return bool(text) and f"asgpatch {run_id}" in str(text)
