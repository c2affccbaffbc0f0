"""The deployed form's run store: a run's state in S3, saved with conditional PutObject against the
sandbox over HTTP, as the Lambda's client would."""

from __future__ import annotations

from pathlib import Path

import pytest

from asgpatch.aws import connect
from asgpatch.aws.api import Api
from asgpatch.aws.errors import Caller
from asgpatch.aws.run_store import S3RunStore, parse_location, store_at
from asgpatch.run_store import Busy, FileStore, StoreConflict, StoreError
from asgpatch_sandbox.process import SandboxProcess
from tests.integration.test_aws_adapter import dummy_credentials, isolate


@pytest.fixture
def api(sandbox: SandboxProcess, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Api:
    isolate(monkeypatch, tmp_path)
    dummy_credentials(monkeypatch)
    return Api(connect(region="us-east-1", profile=None, endpoint_url=sandbox.url), Caller(sleep=lambda _: None))


@pytest.fixture
def bucket(sandbox: SandboxProcess, uid: str) -> str:
    name = f"asgpatch-runs-{uid}"
    sandbox.client("s3").create_bucket(Bucket=name)
    return name


def test_of_two_invocations_that_loaded_the_same_state_only_one_saves(api: Api, bucket: str) -> None:
    first = store_at(f"s3://{bucket}/runs/20261209T040000Z-0001.json", api)
    second = store_at(f"s3://{bucket}/runs/20261209T040000Z-0001.json", api)
    assert first.load() is None
    version = first.save(b'{"tick": 0}', expected=None)
    with pytest.raises(StoreConflict):
        second.save(b'{"tick": 0, "other": true}', expected=None)  # If-None-Match: * — a run is started once
    a, b = first.load(), second.load()
    assert a is not None and b is not None and a.version == b.version == version
    first.save(b'{"tick": 1}', expected=a.version)
    with pytest.raises(StoreConflict):
        second.save(b'{"tick": 1, "other": true}', expected=b.version)  # If-Match on a stale ETag: 412
    loaded = second.load()
    assert loaded is not None and loaded.document == b'{"tick": 1}'


def test_a_save_whose_answer_was_lost_is_found_to_have_landed(api: Api, bucket: str, sandbox: SandboxProcess) -> None:
    """A retried PutObject after a lost answer fails its own condition; the object shows it landed."""
    store = S3RunStore(api, bucket, "run.json")
    version = store.save(b"tick 0", expected=None)
    sandbox.client("s3").put_object(Bucket=bucket, Key="run.json", Body=b"tick 1", IfMatch=version)  # it landed
    assert store.save(b"tick 1", expected=version) != version  # the retry: 412, then the same document found
    with pytest.raises(StoreConflict):
        store.save(b"tick 1 elsewhere", expected=version)


def test_a_deleted_state_is_a_conflict_and_a_missing_bucket_an_error(api: Api, bucket: str, sandbox: SandboxProcess):
    store = S3RunStore(api, bucket, "gone.json")
    version = store.save(b"tick 0", expected=None)
    sandbox.client("s3").delete_object(Bucket=bucket, Key="gone.json")
    with pytest.raises(StoreConflict):
        store.save(b"tick 1", expected=version)  # If-Match on an object that is gone: 404
    with pytest.raises(StoreError, match="NoSuchBucket"):
        S3RunStore(api, f"{bucket}-missing", "run.json").save(b"x", expected=None)


def test_locations_are_parsed_as_users_write_them(api: Api) -> None:
    assert parse_location("s3://my-bucket/runs/") == ("my-bucket", "runs/run-state.json")
    assert parse_location("s3://my-bucket") == ("my-bucket", "run-state.json")
    assert isinstance(store_at("/var/lib/asgpatch/run.json", api), FileStore)
    for bad in ("s3://My_Bucket/x", "s3://ab/x", "s3://bucket..name/x"):
        with pytest.raises(ValueError, match="not a valid S3 bucket name"):
            parse_location(bad)


def test_one_tick_at_a_time_holds_an_s3_run_and_an_expired_hold_is_taken_over_by_one(api: Api, bucket: str) -> None:
    location = f"s3://{bucket}/runs/20261209T040000Z-0003.json"
    first, second, third = (store_at(location, api) for _ in range(3))
    with first.hold(600, 1_000.0):
        with pytest.raises(Busy, match=r"holds the run in s3://.* until"), second.hold(600, 1_100.0):
            pass
        lock = api.s3.get_object(Bucket=bucket, Key="runs/20261209T040000Z-0003.json.tick")
        assert b'"until": 1600.0' in lock["Body"].read()
    with second.hold(600, 1_100.0):  # released when the first tick ended
        pass
    # a holder that died (a Lambda past its time): once its span is over the next tick takes the run
    held = second.hold(600, 2_000.0)
    held.__enter__()
    with pytest.raises(Busy), third.hold(600, 2_599.0):
        pass
    with third.hold(600, 2_601.0), pytest.raises(Busy, match="holds the run"), first.hold(600, 2_602.0):
        pass
