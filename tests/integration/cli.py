"""Running the real CLI against a sandbox, as a user's shell would, and reading what it left."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

from asgpatch_sandbox.builders import describe_group
from asgpatch_sandbox.process import SandboxProcess

LEASE_TAG = "asgpatch:lease"
# Real seconds: the CLI runs on the wall clock, so a sandbox driven through it must be quick.
QUICK_WORLD = ("--launch-seconds", "1", "--ssm-seconds", "1", "--patch-seconds", "2", "--image-seconds", "2")


def cli(sandbox: SandboxProcess, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "asgpatch", *args]
    environment = sandbox.environment(**(env or {}))
    return subprocess.run(command, capture_output=True, text=True, env=environment, timeout=180, check=False)


def report_of(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stdout, f"no report (exit {result.returncode}): {result.stderr}"
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def entry_of(result: subprocess.CompletedProcess[str], name: str) -> dict[str, Any]:
    entries = {g["name"]: g for g in report_of(result)["groups"]}
    assert name in entries, f"the report does not name {name}: {result.stdout}"
    return entries[name]


def tags_of(found: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in found.get("Tags", [])}


def group_tags(sandbox: SandboxProcess, name: str) -> dict[str, str]:
    return tags_of(describe_group(sandbox.client("autoscaling"), name))


def wait_for_lease_expiry(sandbox: SandboxProcess, name: str) -> None:
    """A lease is "<run> <expiry epoch>", compared with the next run's wall clock."""
    lease = group_tags(sandbox, name).get(LEASE_TAG)
    if lease is None:
        return
    expires = float(lease.rsplit(" ", 1)[1])
    time.sleep(max(0.0, expires + 0.3 - time.time()))
