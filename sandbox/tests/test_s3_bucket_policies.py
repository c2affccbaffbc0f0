"""Bucket policies as S3 applies them: a TLS-only Deny lets the sandbox's requests through (it stands in for
AWS's HTTPS endpoints), an unconditional Deny still denies, and a Deny's condition that does not hold
leaves the request to the other statements."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError


def policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def deny(bucket: str, action: str = "s3:*", **condition: Any) -> dict[str, Any]:
    statement = {"Effect": "Deny", "Principal": "*", "Action": action,
                 "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]}  # fmt: skip
    if condition:
        statement["Condition"] = condition
    return statement


@pytest.fixture
def bucket(sandbox, uid):
    s3 = sandbox.client("s3")
    name = f"policies-{uid}"
    s3.create_bucket(Bucket=name)
    return s3, name


def test_a_tls_only_policy_lets_requests_through(bucket):
    s3, name = bucket
    s3.put_bucket_policy(Bucket=name, Policy=policy(deny(name, Bool={"aws:SecureTransport": "false"})))
    s3.put_object(Bucket=name, Key="run.json", Body=b"{}")
    assert s3.get_object(Bucket=name, Key="run.json")["Body"].read() == b"{}"


def test_an_unconditional_deny_still_denies(bucket):
    s3, name = bucket
    s3.put_bucket_policy(Bucket=name, Policy=policy(deny(name, "s3:PutObject")))
    with pytest.raises(ClientError) as refused:
        s3.put_object(Bucket=name, Key="run.json", Body=b"{}")
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_a_deny_on_a_key_the_request_lacks_does_not_apply_but_a_null_check_does(bucket):
    s3, name = bucket
    s3.put_bucket_policy(Bucket=name, Policy=policy(deny(name, "s3:PutObject",
                                                        StringEquals={"aws:SourceVpce": "vpce-1a2b3c4d"})))  # fmt: skip
    s3.put_object(Bucket=name, Key="allowed.json", Body=b"{}")
    s3.put_bucket_policy(Bucket=name, Policy=policy(deny(name, "s3:PutObject", Null={"aws:SourceVpce": "true"})))
    with pytest.raises(ClientError):
        s3.put_object(Bucket=name, Key="denied.json", Body=b"{}")
