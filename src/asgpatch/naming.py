"""Natural keys: the names that tie what a run creates to the run, so a retry looks before it creates."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime

_AMI_NAME_UNSAFE = re.compile(r"[^a-zA-Z0-9()\[\] ./\-'@_]")


def new_run_id(now: float) -> str:
    """Sortable and short: 20261127T063400Z-3f9a."""
    stamp = datetime.fromtimestamp(now, tz=UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{secrets.token_hex(2)}"


def image_name(group: str, run_id: str) -> str:
    """AMI names are unique per account and region (3-128 characters of a small alphabet)."""
    suffix = f"-{run_id}"
    base = _AMI_NAME_UNSAFE.sub("_", f"asgpatch-{group}")
    return base[: 128 - len(suffix)] + suffix


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
