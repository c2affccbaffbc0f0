"""Integration tests talk to real sandbox processes over HTTP, as a user's client would: one slow-clock
sandbox for the session (`sandbox`), and one quick sandbox per module for tests that drive the CLI on
the wall clock (`quick`)."""

from collections.abc import Iterator

import pytest

from asgpatch_sandbox.process import SandboxProcess
from asgpatch_sandbox.testing import autoscaling, ec2, sandbox, ssm, uid
from tests.integration.cli import QUICK_WORLD

__all__ = ["autoscaling", "ec2", "quick", "sandbox", "ssm", "uid"]


@pytest.fixture(scope="module")
def quick() -> Iterator[SandboxProcess]:
    with SandboxProcess(*QUICK_WORLD) as process:
        yield process
