"""Integration tests talk to a real sandbox process over HTTP, as a user's client would."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from asgpatch.sandbox.process import SandboxProcess

# Long delays: tests move the sandbox clock instead of waiting, so nothing finishes by accident.
SLOW_WORLD = ("--launch-seconds", "30", "--ssm-seconds", "20", "--patch-seconds", "60", "--image-seconds", "45")


@pytest.fixture(scope="session")
def sandbox() -> Iterator[SandboxProcess]:
    with SandboxProcess(*SLOW_WORLD) as process:
        yield process


@pytest.fixture
def uid() -> str:
    return uuid.uuid4().hex[:8]


@pytest.fixture
def ec2(sandbox: SandboxProcess):  # type: ignore[no-untyped-def]
    return sandbox.client("ec2")


@pytest.fixture
def autoscaling(sandbox: SandboxProcess):  # type: ignore[no-untyped-def]
    return sandbox.client("autoscaling")


@pytest.fixture
def ssm(sandbox: SandboxProcess):  # type: ignore[no-untyped-def]
    return sandbox.client("ssm")
