"""Throttling by AWS's token buckets.

EC2 publishes its buckets (docs: "Request throttling for the Amazon EC2 API"); Auto Scaling and SSM
do not, so the sandbox assumes the buckets named in ASSUMED_BUCKETS and the docs say so. As on AWS,
each account and region has buckets of its own. Buckets refill in real (monotonic) time: throttling is
about how fast a client really calls.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from asgpatch_sandbox.protocol import AwsCall


@dataclass(frozen=True)
class BucketSpec:
    capacity: float
    refill_per_second: float


# EC2: published numbers (research/AWS-LIMITS.md).
EC2_DESCRIBE = BucketSpec(100, 20)
EC2_UNFILTERED = BucketSpec(50, 10)
EC2_MUTATING = BucketSpec(50, 5)
EC2_OWN_BUCKETS = {
    "CreateLaunchTemplateVersion": BucketSpec(100, 5),
    "ModifyLaunchTemplate": BucketSpec(100, 5),
    "CreateSnapshot": BucketSpec(100, 5),
    "DeleteSnapshot": BucketSpec(100, 5),
    "DeregisterImage": BucketSpec(100, 5),
    "CreateTags": BucketSpec(100, 10),
    "DeleteTags": BucketSpec(100, 10),
    "RunInstances": BucketSpec(5, 2),
    "TerminateInstances": BucketSpec(100, 5),
}
# Unfiltered, unpaginated describes of these resource types cost more on AWS.
EC2_UNFILTERED_OPERATIONS = {"DescribeInstances", "DescribeVolumes", "DescribeSnapshots", "DescribeImages"}

# Auto Scaling (one shared bucket, size unpublished) and SSM (no TPS published): assumptions.
ASSUMED_BUCKETS = {
    "autoscaling": BucketSpec(40, 10),
    "ssm": BucketSpec(40, 10),
}

_READ_PREFIXES = ("Describe", "List", "Get")


class TokenBucket:
    def __init__(self, spec: BucketSpec, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.spec = spec
        self._monotonic = monotonic
        self._tokens = spec.capacity
        self._stamp = monotonic()

    def take(self) -> bool:
        now = self._monotonic()
        self._tokens = min(self.spec.capacity, self._tokens + (now - self._stamp) * self.spec.refill_per_second)
        self._stamp = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False


def _is_unfiltered(call: AwsCall) -> bool:
    meaningful = {k for k in call.params if k not in ("Action", "Version")}
    return not meaningful


def bucket_key(call: AwsCall) -> tuple[str, BucketSpec] | None:
    """Which bucket a call draws from, or None when the sandbox does not throttle that service."""
    if call.service == "ec2":
        op = call.operation
        if op in EC2_OWN_BUCKETS:
            return f"ec2:{op}", EC2_OWN_BUCKETS[op]
        if op.startswith(_READ_PREFIXES):
            if op in EC2_UNFILTERED_OPERATIONS and _is_unfiltered(call):
                return "ec2:unfiltered", EC2_UNFILTERED
            return "ec2:describe", EC2_DESCRIBE
        return "ec2:mutating", EC2_MUTATING
    spec = ASSUMED_BUCKETS.get(call.service)
    if spec is None:
        return None
    return call.service, spec


class Throttler:
    """The buckets of every account and region; `enabled` off lets every call through (a benchmark
    builds its account at full speed, then turns the throttle on)."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic, enabled: bool = True) -> None:
        self.enabled = enabled
        self._monotonic = monotonic
        self._buckets: dict[str, TokenBucket] = {}
        self._lock = threading.Lock()

    def allow(self, call: AwsCall, account: str = "") -> bool:
        found = bucket_key(call) if self.enabled else None
        if found is None:
            return True
        kind, spec = found
        key = f"{account}/{call.region}/{kind}"
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = TokenBucket(spec, self._monotonic)
            return bucket.take()
