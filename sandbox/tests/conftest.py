"""The sandbox's tests: its pure parts in-process, the rest through a sandbox process over HTTP."""

from asgpatch_sandbox.testing import autoscaling, ec2, sandbox, ssm, uid

__all__ = ["autoscaling", "ec2", "sandbox", "ssm", "uid"]
