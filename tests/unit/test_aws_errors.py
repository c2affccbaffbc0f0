"""The adapter's error boundary: botocore exceptions become CloudError, Auto Scaling contention is
retried with backoff and jitter through an injected sleep. A fake client stands in for AWS."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from asgpatch.aws.errors import Caller, operation_of, translate
from asgpatch.cloud import CloudError


def client_error(code: str, message: str = "try later", operation: str = "UpdateAutoScalingGroup") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


class FakeAutoScaling:
    """Fails with the queued errors, then answers."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls: list[dict[str, Any]] = []
        self.meta = SimpleNamespace(method_to_api_mapping={"update_auto_scaling_group": "UpdateAutoScalingGroup"})

    def update_auto_scaling_group(self, **params: Any) -> dict[str, Any]:
        self.calls.append(params)
        if self.errors:
            raise self.errors.pop(0)
        return {"ok": True}


class FakeSleep:
    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.mark.parametrize("code", ["ResourceContention", "ScalingActivityInProgress"])
def test_contention_is_retried_with_growing_jittered_waits(code: str) -> None:
    client, sleep = FakeAutoScaling(*(client_error(code) for _ in range(3))), FakeSleep()
    caller = Caller(sleep=sleep, attempts=5, base=1.0, cap=20.0, jitter=lambda: 0.5)
    assert caller.call(client.update_auto_scaling_group, AutoScalingGroupName="web") == {"ok": True}
    assert len(client.calls) == 4
    assert sleep.waits == [0.75, 1.5, 3.0]  # half fixed, half jitter, doubling


def test_jitter_spreads_waits_between_half_and_full_backoff() -> None:
    low = Caller(jitter=lambda: 0.0, base=2.0, cap=100.0)
    high = Caller(jitter=lambda: 1.0, base=2.0, cap=100.0)
    assert (low.delay(0), high.delay(0)) == (1.0, 2.0)
    assert (low.delay(3), high.delay(3)) == (8.0, 16.0)
    assert Caller(jitter=lambda: 1.0, base=2.0, cap=10.0).delay(10) == 10.0  # capped


def test_contention_that_never_ends_becomes_cloud_error_after_the_attempts() -> None:
    client, sleep = FakeAutoScaling(*(client_error("ResourceContention") for _ in range(10))), FakeSleep()
    caller = Caller(sleep=sleep, attempts=3, jitter=lambda: 0.0)
    with pytest.raises(CloudError) as caught:
        caller.call(client.update_auto_scaling_group, AutoScalingGroupName="web")
    assert len(client.calls) == 3 and len(sleep.waits) == 2
    assert (caught.value.code, caught.value.operation) == ("ResourceContention", "UpdateAutoScalingGroup")


def test_other_errors_are_not_retried() -> None:
    client, sleep = FakeAutoScaling(client_error("ValidationError", "MinSize above MaxSize")), FakeSleep()
    with pytest.raises(CloudError) as caught:
        Caller(sleep=sleep).call(client.update_auto_scaling_group, AutoScalingGroupName="web")
    assert len(client.calls) == 1 and sleep.waits == []
    assert caught.value.code == "ValidationError"
    assert caught.value.message == "MinSize above MaxSize"
    assert str(caught.value) == "UpdateAutoScalingGroup: ValidationError: MinSize above MaxSize"


def test_botocore_errors_become_cloud_errors_named_after_their_class() -> None:
    client = FakeAutoScaling(EndpointConnectionError(endpoint_url="http://127.0.0.1:9"))
    with pytest.raises(CloudError) as caught:
        Caller(sleep=FakeSleep()).call(client.update_auto_scaling_group)
    assert caught.value.code == "EndpointConnectionError"
    assert caught.value.operation == "UpdateAutoScalingGroup"
    assert "127.0.0.1:9" in caught.value.message


def test_operation_names_come_from_the_client_model() -> None:
    assert operation_of(FakeAutoScaling().update_auto_scaling_group) == "UpdateAutoScalingGroup"
    assert operation_of(len) == "len"
    assert translate(client_error("Throttling", "Rate exceeded", "DescribeAutoScalingGroups")).operation == (
        "DescribeAutoScalingGroups"
    )
