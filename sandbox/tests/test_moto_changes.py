"""moto_changes.CHANGES is the whole of what the sandbox changes in moto, and each entry is true of moto."""

from __future__ import annotations

import json
import subprocess
import sys

from asgpatch_sandbox.moto_changes import CHANGES
from asgpatch_sandbox.override import moto_has

# Runs in a child process, so that this test process's moto stays as moto ships it: every attribute of
# every class moto defines for the emulated services, before and after a sandbox app is built.
SNAPSHOT_MOTO_BEFORE_AND_AFTER = r"""
import importlib, inspect, json, pkgutil, sys
import moto.autoscaling, moto.awslambda, moto.cloudformation, moto.ec2, moto.events, moto.s3, moto.ssm
import moto.stepfunctions.models, moto.stepfunctions.responses  # not its parser: that does not import whole

def classes():
    for package in (moto.autoscaling, moto.awslambda, moto.cloudformation, moto.ec2, moto.events, moto.s3, moto.ssm,
                    moto.stepfunctions.models, moto.stepfunctions.responses):
        inside = pkgutil.walk_packages(getattr(package, "__path__", []), package.__name__ + ".")
        names = [package.__name__] + [m.name for m in inside]
        for name in names:
            module = importlib.import_module(name)
            for _, cls in inspect.getmembers(module, inspect.isclass):
                if cls.__module__.startswith("moto."):
                    yield cls

def snapshot():
    return {f"{c.__module__}.{c.__qualname__}.{k}": id(v) for c in set(classes()) for k, v in vars(c).items()}

before = snapshot()
from asgpatch_sandbox.server import SandboxApp, SandboxOptions
SandboxApp(SandboxOptions())
SandboxApp(SandboxOptions())  # a second sandbox in one process changes nothing more
after = snapshot()
changed = sorted(k for k in after if before.get(k) != after[k])
json.dump(changed, sys.stdout)
"""


def _where(change) -> str:  # type: ignore[no-untyped-def]
    return change.where


def test_the_list_is_everything_the_sandbox_changes_in_moto():
    result = subprocess.run(
        [sys.executable, "-c", SNAPSHOT_MOTO_BEFORE_AND_AFTER], capture_output=True, text=True, timeout=120, check=True
    )
    changed = set(json.loads(result.stdout))
    assert changed == {_where(change) for change in CHANGES}


def test_each_attribute_is_changed_once_and_says_what_aws_does():
    wheres = [_where(change) for change in CHANGES]
    assert len(wheres) == len(set(wheres))
    for change in CHANGES:
        assert len(change.why) > 30, change.where


def test_an_entry_replaces_what_moto_has_or_says_it_adds_what_moto_lacks():
    """A moto upgrade that renames a replaced method, or starts answering an added operation, fails here."""
    for change in CHANGES:
        assert moto_has(change.target, change.name) is not change.adds, change.where
