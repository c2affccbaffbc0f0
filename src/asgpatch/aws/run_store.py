"""A run's state in S3 (`s3://bucket/key`), saved with S3's conditional PutObject.

The first save of a run asks `If-None-Match: *` (only if no object is there); every later one
`If-Match: <the ETag it loaded>`. S3 answers 412 PreconditionFailed when another invocation saved in
between (409 ConditionalRequestConflict when two saves race), and 404 NoSuchKey to an If-Match on an
object that was deleted: all three are a StoreConflict. A save whose answer was lost and whose retry then
finds the condition failed reads the object back: if it holds exactly this document, the save landed.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from asgpatch.aws.api import Api
from asgpatch.aws.permissions import Scope, grant, needs
from asgpatch.cloud import CloudError
from asgpatch.run_store import Busy, FileStore, StoreConflict, Stored, StoreError

CONFLICTS = frozenset({"PreconditionFailed", "ConditionalRequestConflict", "NoSuchKey", "412", "409", "404"})
# S3 general purpose bucket names: 3-63 lowercase letters, digits, dots and hyphens, letter or digit at the ends.
BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
DEFAULT_OBJECT = "run-state.json"  # under a prefix that ends with "/"


def parse_location(location: str) -> tuple[str, str]:
    """(bucket, key) of `s3://bucket/key`; a key ending in "/" (or none) names `<prefix>run-state.json`."""
    if not location.startswith("s3://"):
        raise ValueError(f"{location!r} is not an s3:// location")
    bucket, _, key = location[len("s3://") :].partition("/")
    if not BUCKET.match(bucket) or ".." in bucket:
        raise ValueError(f"{location!r}: {bucket!r} is not a valid S3 bucket name")
    if not key or key.endswith("/"):
        key += DEFAULT_OBJECT
    if len(key.encode()) > 1024:
        raise ValueError(f"{location!r}: an S3 key is at most 1,024 bytes")
    return bucket, key


@dataclass(frozen=True)
class S3RunStore:
    api: Api
    bucket: str
    key: str

    @property
    def location(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    @needs(
        grant(Scope.RUN_STATE_OBJECTS, "s3:GetObject"),
        grant(Scope.RUN_STATE_BUCKET, "s3:ListBucket", implicit=True,
              why="without it S3 answers a state not yet written with 403 instead of 404"),
    )  # fmt: skip
    def load(self) -> Stored | None:
        try:
            answer = self.api.call(self.api.s3.get_object, Bucket=self.bucket, Key=self.key)
        except CloudError as error:
            if error.code in ("NoSuchKey", "404"):
                return None
            raise StoreError(f"cannot read the run state {self.location}: {error}") from None
        body: Any = answer["Body"]
        return Stored(body.read(), str(answer["ETag"]))

    @needs(grant(Scope.RUN_STATE_OBJECTS, "s3:PutObject"))
    def save(self, document: bytes, expected: str | None) -> str:
        condition = {"IfNoneMatch": "*"} if expected is None else {"IfMatch": expected}
        try:
            answer = self.api.call(
                self.api.s3.put_object,
                Bucket=self.bucket,
                Key=self.key,
                Body=document,
                ContentType="application/json",
                **condition,
            )
        except CloudError as error:
            if error.code not in CONFLICTS:
                raise StoreError(f"cannot save the run state {self.location}: {error}") from None
            landed = self.load()  # a retry after a lost answer fails its own condition: did ours land?
            if landed is not None and landed.document == document:
                return landed.version
            raise StoreConflict(
                f"the run state {self.location} was saved by another invocation since it was loaded"
            ) from None
        return str(answer["ETag"])

    def write_beside(self, suffix: str, document: bytes) -> str:
        """Another object next to the state (`<key><suffix>`, e.g. the run's report); its location."""
        key = f"{self.key}{suffix}"
        try:
            self.api.call(self.api.s3.put_object, Bucket=self.bucket, Key=key, Body=document,
                          ContentType="application/json")  # fmt: skip
        except CloudError as error:
            raise StoreError(f"cannot write s3://{self.bucket}/{key}: {error}") from None
        return f"s3://{self.bucket}/{key}"

    @contextlib.contextmanager
    @needs(grant(Scope.RUN_STATE_OBJECTS, "s3:GetObject", "s3:PutObject", "s3:DeleteObject",
                 why="a tick holds the run with a small `<key>.tick` object while it acts"))  # fmt: skip
    def hold(self, span: float, now: float) -> Iterator[None]:
        key = f"{self.key}.tick"
        body = json.dumps({"holder": f"{socket.gethostname()}:{os.getpid()}", "until": now + span}).encode()
        self._take(key, body, now)
        try:
            yield
        finally:
            with contextlib.suppress(CloudError):  # an expired lock is as good as a deleted one
                self.api.call(self.api.s3.delete_object, Bucket=self.bucket, Key=key)

    def _take(self, key: str, body: bytes, now: float) -> None:
        try:
            self._put(key, body, IfNoneMatch="*")
            return
        except StoreConflict:
            pass
        try:
            answer = self.api.call(self.api.s3.get_object, Bucket=self.bucket, Key=key)
            held = answer["Body"].read()
        except CloudError as error:
            if error.code in ("NoSuchKey", "404"):  # released meanwhile: the next tick takes it
                raise Busy(f"another tick was holding the run in {self.location}") from None
            raise StoreError(f"cannot read the lock {key}: {error}") from None
        if held == body:
            return  # our own put, whose answer was lost
        holder, until = _holder(held)
        if until > now:
            when = datetime.fromtimestamp(until, tz=UTC).strftime("%H:%M:%SZ")
            raise Busy(f"another tick ({holder}) holds the run in {self.location} until {when}")
        try:
            self._put(key, body, IfMatch=str(answer["ETag"]))  # expired: its holder is gone; of two, one wins
        except StoreConflict:
            raise Busy(f"another tick took over the expired lock on {self.location} first") from None

    def _put(self, key: str, body: bytes, **condition: str) -> None:
        try:
            self.api.call(self.api.s3.put_object, Bucket=self.bucket, Key=key, Body=body,
                          ContentType="application/json", **condition)  # fmt: skip
        except CloudError as error:
            if error.code in CONFLICTS:
                raise StoreConflict(str(error)) from None
            raise StoreError(f"cannot write the lock {key}: {error}") from None


def _holder(body: bytes) -> tuple[str, float]:
    try:
        found = json.loads(body)
        return str(found["holder"]), float(found["until"])
    except (ValueError, KeyError, TypeError):
        return "unknown", 0.0  # not a lock asgpatch wrote: treated as expired


def store_at(location: str, api: Api) -> S3RunStore | FileStore:
    """The run store a user names: `s3://bucket/key` in S3, anything else a local file."""
    if location.startswith("s3://"):
        bucket, key = parse_location(location)
        return S3RunStore(api, bucket, key)
    return FileStore(location)
