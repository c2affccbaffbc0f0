"""pytest fixtures for tests that talk to a sandbox over HTTP, as a user's client would.

A test suite imports them into its conftest.py (`from asgpatch_sandbox.testing import sandbox, ...`):
one sandbox process per test session, on a slow clock that tests move forward instead of waiting,
and boto3 clients pointed at it. Both the sandbox's own tests and the engine's use them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from asgpatch_sandbox.process import SandboxProcess

# Long delays: tests move the sandbox clock instead of waiting, so nothing finishes by accident.
SLOW_WORLD = ("--launch-seconds", "30", "--ssm-seconds", "20", "--patch-seconds", "60", "--image-seconds", "45")


@pytest.fixture(scope="session")
def sandbox() -> Iterator[SandboxProcess]:
    with SandboxProcess(*SLOW_WORLD) as process:
        yield process


@pytest.fixture
def uid() -> str:
    """A short unique suffix, so that tests sharing the session's sandbox never share a name."""
    return uuid.uuid4().hex[:8]


@pytest.fixture
def ec2(sandbox: SandboxProcess) -> Any:
    return sandbox.client("ec2")


@pytest.fixture
def autoscaling(sandbox: SandboxProcess) -> Any:
    return sandbox.client("autoscaling")


@pytest.fixture
def ssm(sandbox: SandboxProcess) -> Any:
    return sandbox.client("ssm")
