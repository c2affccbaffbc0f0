"""Integration tests talk to a real sandbox process over HTTP, as a user's client would."""

from asgpatch_sandbox.testing import autoscaling, ec2, sandbox, ssm, uid

__all__ = ["autoscaling", "ec2", "sandbox", "ssm", "uid"]
