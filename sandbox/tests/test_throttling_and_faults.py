"""Token buckets and fault injection, with a fake monotonic clock."""

from __future__ import annotations

import pytest

from asgpatch_sandbox.faults import FaultInjector
from asgpatch_sandbox.protocol import AwsCall
from asgpatch_sandbox.throttling import BucketSpec, Throttler, TokenBucket, bucket_key


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _call(service: str, operation: str, **params: str) -> AwsCall:
    protocol = {"ec2": "ec2", "ssm": "json"}.get(service, "query")
    return AwsCall(
        service, operation, protocol, "us-east-1", {"Action": [operation], **{k: [v] for k, v in params.items()}}
    )


def test_bucket_allows_its_capacity_then_refills_at_its_rate():
    clock = FakeMonotonic()
    bucket = TokenBucket(BucketSpec(capacity=5, refill_per_second=2), clock)
    assert [bucket.take() for _ in range(6)] == [True] * 5 + [False]
    clock.now = 1.0
    assert [bucket.take() for _ in range(3)] == [True, True, False]
    clock.now = 100.0
    assert sum(bucket.take() for _ in range(10)) == 5, "refill never exceeds capacity"


@pytest.mark.parametrize(
    ("call", "key", "capacity", "rate"),
    [
        (_call("ec2", "DescribeImages", **{"ImageId.1": "ami-1"}), "ec2:describe", 100, 20),
        (_call("ec2", "DescribeInstances"), "ec2:unfiltered", 50, 10),
        (_call("ec2", "CreateImage", InstanceId="i-1"), "ec2:mutating", 50, 5),
        (_call("ec2", "CreateLaunchTemplateVersion"), "ec2:CreateLaunchTemplateVersion", 100, 5),
        (_call("ec2", "CreateTags"), "ec2:CreateTags", 100, 10),
        (_call("ec2", "RunInstances"), "ec2:RunInstances", 5, 2),
        (_call("autoscaling", "UpdateAutoScalingGroup"), "autoscaling", 40, 10),
        (_call("ssm", "SendCommand"), "ssm", 40, 10),
    ],
)
def test_calls_draw_from_the_published_or_assumed_bucket(call, key, capacity, rate):
    found = bucket_key(call)
    assert found is not None
    assert found[0] == key
    assert (found[1].capacity, found[1].refill_per_second) == (capacity, rate)


def test_services_without_a_bucket_are_not_throttled():
    assert bucket_key(_call("sts", "GetCallerIdentity")) is None
    throttler = Throttler(FakeMonotonic())
    assert all(throttler.allow(_call("sts", "GetCallerIdentity")) for _ in range(1000))


def test_buckets_are_independent():
    throttler = Throttler(FakeMonotonic())
    assert sum(throttler.allow(_call("ec2", "RunInstances")) for _ in range(10)) == 5
    assert throttler.allow(_call("ec2", "CreateImage")), "RunInstances' bucket does not drain CreateImage's"


def test_each_account_and_region_has_buckets_of_its_own():
    throttler = Throttler(FakeMonotonic())
    assert sum(throttler.allow(_call("ec2", "RunInstances"), "123456789012") for _ in range(10)) == 5
    other_region = AwsCall("ec2", "RunInstances", "ec2", "eu-west-1", {"Action": ["RunInstances"]})
    assert throttler.allow(other_region, "123456789012"), "eu-west-1's bucket is not us-east-1's"
    assert throttler.allow(_call("ec2", "RunInstances"), "210987654321"), "another account's bucket is its own"


def test_fault_injection_is_reproducible_and_near_its_rate():
    first = [FaultInjector(0.25, seed=11).draw() for _ in range(1)]
    injector_a, injector_b = FaultInjector(0.25, seed=11), FaultInjector(0.25, seed=11)
    draws_a = [injector_a.draw() for _ in range(4000)]
    assert draws_a == [injector_b.draw() for _ in range(4000)]
    assert draws_a[:1] == first
    failures = [d for d in draws_a if d is not None]
    assert 0.22 < len(failures) / 4000 < 0.28
    assert {"internal", "unavailable"} == set(failures)
    assert all(FaultInjector(0.0, seed=1).draw() is None for _ in range(100))


def test_fault_rate_outside_zero_to_one_is_refused():
    with pytest.raises(ValueError):
        FaultInjector(1.5, seed=0)
