"""The endpoint itself: lifecycle, unemulated operations, throttling and injected faults.

Throttling and faults are checked through botocore's real retry modes: without retries the errors
reach the caller with AWS's codes; with `standard` or `adaptive` retries the same burst succeeds.
"""

from __future__ import annotations

import signal
import socket
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError

from asgpatch_sandbox.process import DUMMY_CREDENTIALS, SandboxProcess

NO_RETRIES = Config(retries={"mode": "standard", "total_max_attempts": 1})  # max_attempts counts retries


def _outcomes(calls: int, call: Any) -> list[str]:
    seen = []
    for _ in range(calls):
        try:
            call()
            seen.append("ok")
        except ClientError as error:
            seen.append(f"{error.response['ResponseMetadata']['HTTPStatusCode']} {error.response['Error']['Code']}")
    return seen


def test_sigterm_stops_the_sandbox_cleanly() -> None:
    process = SandboxProcess().start()
    port = int(process.url.rsplit(":", 1)[1])
    assert process.client("autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"] == []
    assert process.proc is not None
    process.proc.send_signal(signal.SIGTERM)
    assert process.proc.wait(15) == 0
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0, "the port is released"


@pytest.mark.parametrize(
    ("service", "operation", "kwargs", "code"),
    [
        ("autoscaling", "rollback_instance_refresh", {"AutoScalingGroupName": "g"}, "InvalidAction"),
        ("ec2", "reset_image_attribute", {"ImageId": "ami-12345678", "Attribute": "launchPermission"}, "InvalidAction"),
    ],
)  # fmt: skip
def test_unemulated_operations_answer_a_well_formed_error(sandbox, service, operation, kwargs, code):
    client = sandbox.client(service, NO_RETRIES)
    with pytest.raises(ClientError) as excinfo:
        getattr(client, operation)(**kwargs)
    assert excinfo.value.response["Error"]["Code"] == code
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "not emulated by the asgpatch sandbox" in excinfo.value.response["Error"]["Message"]


@pytest.mark.parametrize(
    ("service", "operation", "code"),
    [
        ("autoscaling", "describe_auto_scaling_groups", "SignatureDoesNotMatch"),
        ("ec2", "describe_images", "AuthFailure"),
        ("ssm", "describe_instance_information", "InvalidSignatureException"),
    ],
)
def test_a_region_aws_does_not_have_is_refused_as_aws_refuses_the_signature(sandbox, service, operation, code):
    """AWS answers a request signed for a region it does not have with 403 (botocore does not retry it),
    not with a 500 that every client retries and then reports as an internal failure."""
    client = boto3.client(
        service, endpoint_url=sandbox.url, region_name="xx-nowhere-1", config=NO_RETRIES, **DUMMY_CREDENTIALS
    )
    with pytest.raises(ClientError) as excinfo:
        getattr(client, operation)()
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert excinfo.value.response["Error"]["Code"] == code
    assert "xx-nowhere-1" in excinfo.value.response["Error"]["Message"]
    assert sandbox.client(service).meta.region_name == "us-east-1"  # the sandbox still answers its own region
    getattr(sandbox.client(service), operation)()


def test_the_control_api_refuses_bad_input(sandbox):
    import urllib.error

    with pytest.raises(urllib.error.HTTPError) as excinfo:
        sandbox.control("POST", "clock", {"advance_seconds": -5})
    assert excinfo.value.code == 400
    with pytest.raises(urllib.error.HTTPError) as excinfo:
        sandbox.control("GET", "nothing-here")
    assert excinfo.value.code == 404


@pytest.fixture(scope="module")
def throttled() -> Iterator[SandboxProcess]:
    with SandboxProcess("--throttle") as process:
        yield process


def test_ec2_describe_bucket_answers_request_limit_exceeded(throttled):
    """The describe bucket holds 100 tokens and refills 20 a second in real time, so how many calls
    pass before the first throttle depends on how fast this machine calls: the test calls until the
    throttle comes and bounds the count by the elapsed time instead of assuming a speed. (A client
    slower than the refill, over 50 ms a call, never drains it; the cap reports that plainly.)"""
    ec2 = throttled.client("ec2", NO_RETRIES)
    passed, throttled_with = 0, None
    start = time.monotonic()
    while passed < 5000 and time.monotonic() - start < 30:
        try:
            ec2.describe_images(Owners=["self"])
        except ClientError as error:
            throttled_with = f"{error.response['ResponseMetadata']['HTTPStatusCode']} {error.response['Error']['Code']}"
            break
        passed += 1
    elapsed = time.monotonic() - start
    assert throttled_with == "503 RequestLimitExceeded", f"{passed} calls in {elapsed:.1f} s, then {throttled_with}"
    assert passed >= 100, "the full 100-token burst is honoured before any throttle"
    assert passed <= 100 + 20 * elapsed + 2, f"{passed} calls passed in {elapsed:.2f} s: more than 100 + 20/s"


def test_the_call_ledger_counts_every_call_and_each_throttle_per_region_bucket(throttled):
    """Calls are counted as received (throttled ones too: a retry is another call on the wire); a
    region's bucket drained says nothing of another region's."""
    before = throttled.control("GET", "calls")
    quick = throttled.client("autoscaling", NO_RETRIES)
    outcomes = _outcomes(80, lambda: quick.describe_auto_scaling_groups())
    refused = outcomes.count("400 Throttling")
    assert refused > 0
    elsewhere = throttled.client("autoscaling", NO_RETRIES, region="eu-west-1")
    assert _outcomes(5, lambda: elsewhere.describe_auto_scaling_groups()) == ["ok"] * 5
    after = throttled.control("GET", "calls")
    key = "autoscaling:DescribeAutoScalingGroups"
    assert after["calls"][key] - before["calls"].get(key, 0) == 85
    assert after["throttled"][key] - before["throttled"].get(key, 0) == refused
    assert after["total"] - before["total"] == 85 and after["throttled_total"] - before["throttled_total"] == refused
    time.sleep(4)  # the us-east-1 bucket refills for the tests after this one


def test_the_throttle_can_be_turned_off_and_on(throttled):
    quick = throttled.client("autoscaling", NO_RETRIES)
    assert throttled.control("POST", "throttle", {"enabled": False}) == {"enabled": False}
    try:
        assert _outcomes(80, lambda: quick.describe_auto_scaling_groups()) == ["ok"] * 80
    finally:
        assert throttled.control("POST", "throttle", {"enabled": True}) == {"enabled": True}
    assert "400 Throttling" in _outcomes(80, lambda: quick.describe_auto_scaling_groups())
    time.sleep(4)  # the bucket refills for the tests after this one


def test_adaptive_retry_mode_rides_out_the_throttle(throttled):
    ec2 = throttled.client("ec2", Config(retries={"mode": "adaptive", "max_attempts": 10}))
    assert _outcomes(160, lambda: ec2.describe_launch_templates()) == ["ok"] * 160


def test_standard_retry_mode_rides_out_autoscaling_throttling(throttled):
    quick = throttled.client("autoscaling", NO_RETRIES)
    outcomes = _outcomes(80, lambda: quick.describe_auto_scaling_groups())
    assert "400 Throttling" in outcomes
    patient = throttled.client("autoscaling", Config(retries={"mode": "standard", "max_attempts": 10}))
    assert _outcomes(60, lambda: patient.describe_auto_scaling_groups()) == ["ok"] * 60


def test_ssm_throttling_uses_its_own_error_code(throttled):
    ssm = throttled.client("ssm", NO_RETRIES)
    outcomes = _outcomes(80, lambda: ssm.list_documents(MaxResults=1))
    assert "400 ThrottlingException" in outcomes


def _fault_sequence(seed: int, calls: int = 60) -> list[str]:
    with SandboxProcess("--fault-rate", "0.3", "--fault-seed", str(seed)) as process:
        autoscaling = process.client("autoscaling", NO_RETRIES)
        return _outcomes(calls, lambda: autoscaling.describe_auto_scaling_groups())


def test_fault_injection_is_seeded_and_shaped_like_aws():
    first = _fault_sequence(7)
    assert _fault_sequence(7) == first, "the same seed fails the same calls"
    failures = [o for o in first if o != "ok"]
    assert 6 <= len(failures) <= 30, f"about 30% of 60 calls fail, got {len(failures)}"
    assert set(failures) <= {"500 InternalFailure", "503 ServiceUnavailable"}
    assert _fault_sequence(8) != first


def test_standard_retries_ride_out_injected_faults():
    with SandboxProcess("--fault-rate", "0.2", "--fault-seed", "3") as process:
        autoscaling = process.client("autoscaling", Config(retries={"mode": "standard", "max_attempts": 8}))
        assert _outcomes(50, lambda: autoscaling.describe_auto_scaling_groups()) == ["ok"] * 50


def test_dropped_connections_are_seeded_and_ridden_out_by_standard_retries():
    """--reset-rate closes a seeded fraction of connections before any answer, as a reset on the way
    would: one attempt sees botocore's ConnectionClosedError, standard retries see only success."""
    with SandboxProcess("--reset-rate", "0.3", "--fault-seed", "5") as process:
        raw = process.client("autoscaling", NO_RETRIES)
        dropped = 0
        for _ in range(40):
            try:
                raw.describe_auto_scaling_groups()
            except ConnectionClosedError:
                dropped += 1
        assert 4 <= dropped <= 20, f"about 30% of 40 calls dropped, got {dropped}"
        patient = process.client("autoscaling", Config(retries={"mode": "standard", "max_attempts": 8}))
        assert _outcomes(30, lambda: patient.describe_auto_scaling_groups()) == ["ok"] * 30


def test_a_lost_answer_took_effect():
    """--lost-answer-rate (here set through the control API) lets the call take effect, then drops the
    connection: the caller sees ConnectionClosedError, yet the security group exists."""
    with SandboxProcess() as process:
        process.set_faults(lost_answer_rate=1.0)
        with pytest.raises(ConnectionClosedError):
            process.client("ec2", NO_RETRIES).create_security_group(GroupName="lost", Description="answer lost")
        process.set_faults()
        groups = process.client("ec2").describe_security_groups(GroupNames=["lost"])["SecurityGroups"]
        assert [g["GroupName"] for g in groups] == ["lost"]


def test_latency_delays_every_aws_answer_but_calls_still_overlap():
    """--latency-ms 200: each call takes at least 200 ms; four at once take about as long as one."""
    from concurrent.futures import ThreadPoolExecutor

    with SandboxProcess("--latency-ms", "200") as slow:
        client = slow.client("autoscaling")
        client.describe_auto_scaling_groups()  # connections made, code paths warm
        started = time.monotonic()
        client.describe_auto_scaling_groups()
        one = time.monotonic() - started
        assert one >= 0.2, f"an answer took {one * 1000:.0f} ms"
        clients = [slow.client("autoscaling") for _ in range(4)]
        for c in clients:
            c.describe_auto_scaling_groups()
        started = time.monotonic()
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda c: c.describe_auto_scaling_groups(), clients))
        four = time.monotonic() - started
        assert 0.2 <= four < 0.2 * 4, f"four calls at once took {four * 1000:.0f} ms"
        started = time.monotonic()
        slow.now()
        assert time.monotonic() - started < 0.2, "the control API is not an AWS call: it is not delayed"
