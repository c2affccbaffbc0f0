"""S3's conditional PutObject, which the run store relies on: If-None-Match: * creates only, If-Match
replaces only the version it names; otherwise 412 PreconditionFailed (404 NoSuchKey for an If-Match on
an object that is not there), as S3 answers."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError


def code(error: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    answer = error.value.response
    return answer["Error"]["Code"], answer["ResponseMetadata"]["HTTPStatusCode"]


def test_conditional_writes_answer_as_s3_does(sandbox: Any, uid: str) -> None:
    s3 = sandbox.client("s3")
    bucket = f"conditional-{uid}"
    s3.create_bucket(Bucket=bucket)
    first = s3.put_object(Bucket=bucket, Key="state.json", Body=b"0", IfNoneMatch="*")["ETag"]
    with pytest.raises(ClientError) as exists:
        s3.put_object(Bucket=bucket, Key="state.json", Body=b"1", IfNoneMatch="*")
    assert code(exists) == ("PreconditionFailed", 412)
    second = s3.put_object(Bucket=bucket, Key="state.json", Body=b"1", IfMatch=first)["ETag"]
    with pytest.raises(ClientError) as stale:
        s3.put_object(Bucket=bucket, Key="state.json", Body=b"2", IfMatch=first)
    assert code(stale) == ("PreconditionFailed", 412)
    with pytest.raises(ClientError) as missing:
        s3.put_object(Bucket=bucket, Key="other.json", Body=b"2", IfMatch=first)
    assert code(missing) == ("NoSuchKey", 404)
    found = s3.get_object(Bucket=bucket, Key="state.json")
    assert (found["ETag"], found["Body"].read()) == (second, b"1")
