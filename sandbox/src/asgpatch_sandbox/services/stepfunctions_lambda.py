"""Lambda calls made by the sandbox itself: Step Functions Tasks and EventBridge targets.

They go over HTTP to the sandbox's own Lambda Invoke, with boto3, from a thread started at catch-up:
the catch-up holds the world lock, and a handler calls the sandbox back (so a call made inside the
catch-up would wait for itself). The answer is turned into what Step Functions sees: the payload, or
`{"Payload", "StatusCode", ...}` for `lambda:invoke`; a function error named by its errorType, with
the payload as the cause; a Lambda API error as `Lambda.<Code>`.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from asgpatch_sandbox.services.stepfunctions_states import TaskRequest
from asgpatch_sandbox.world import World

log = logging.getLogger("asgpatch_sandbox")
CREDENTIALS = {"aws_access_key_id": "sandbox", "aws_secret_access_key": "sandbox"}
# One attempt: Step Functions' own Retry decides what to retry. Invocations may last Lambda's 15 minutes.
_CONFIG = Config(retries={"total_max_attempts": 1}, connect_timeout=10, read_timeout=960)


@cache
def lambda_client(url: str, region: str) -> Any:
    """boto3 clients are thread-safe: one per endpoint and region."""
    return boto3.client("lambda", endpoint_url=url, region_name=region, config=_CONFIG, **CREDENTIALS)


@dataclass
class LambdaCall:
    """A Task's Lambda call in flight; `finished_at` is the sandbox clock when the answer came back."""

    finished_at: float = 0.0
    output: Any = None
    error: str | None = None
    cause: str = ""
    _done: threading.Event = field(default_factory=threading.Event)

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float) -> bool:
        return self._done.wait(timeout)


def start_call(world: World, request: TaskRequest) -> LambdaCall:
    call = LambdaCall()
    thread = threading.Thread(target=_run, args=(world, request, call), name="sandbox-sfn-lambda", daemon=True)
    thread.start()
    return call


def _run(world: World, request: TaskRequest, call: LambdaCall) -> None:
    try:
        _invoke(world, request, call)
    except Exception as error:  # the call's own failure, never the thread's
        call.error, call.cause = "Lambda.SdkClientException", f"Unable to execute HTTP request: {error}"
    finally:
        call.finished_at = world.clock.now()
        call._done.set()


def _invoke(world: World, request: TaskRequest, call: LambdaCall) -> None:
    if not world.url:
        call.error, call.cause = "Lambda.SdkClientException", "the sandbox is not listening: no endpoint to call"
        return
    arguments: dict[str, Any] = {
        "FunctionName": request.function,
        "InvocationType": request.invocation_type,
        "Payload": json.dumps({} if request.payload is None else request.payload).encode(),
    }
    if request.qualifier:
        arguments["Qualifier"] = str(request.qualifier)
    region = request.function.split(":")[3] if request.function.startswith("arn:") else request.region
    try:
        answer = lambda_client(world.url, region).invoke(**arguments)
    except ClientError as error:
        call.error, call.cause = _api_error(error)
        return
    raw = answer["Payload"].read().decode("utf-8", "replace") if answer.get("Payload") is not None else ""
    try:
        payload: Any = json.loads(raw) if raw.strip() else None
    except ValueError:
        payload = raw
    if answer.get("FunctionError"):
        named = payload.get("errorType") if isinstance(payload, dict) else None
        call.error, call.cause = str(named or "Lambda.Unknown"), raw
        return
    if not request.integration:
        call.output = payload
        return
    metadata = answer.get("ResponseMetadata", {})
    headers = dict(metadata.get("HTTPHeaders", {}))
    call.output = {
        "ExecutedVersion": answer.get("ExecutedVersion", "$LATEST"),
        "Payload": payload,
        "SdkHttpMetadata": {"AllHttpHeaders": {k: [v] for k, v in headers.items()}, "HttpHeaders": headers,
                            "HttpStatusCode": answer.get("StatusCode", 200)},
        "SdkResponseMetadata": {"RequestId": metadata.get("RequestId", "")},
        "StatusCode": answer.get("StatusCode", 200),
    }  # fmt: skip


def _api_error(error: ClientError) -> tuple[str, str]:
    """As Step Functions reports a Lambda API error: `Lambda.<Code>` (5xx: Lambda.ServiceException)."""
    details = error.response.get("Error", {})
    status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 400))
    code = str(details.get("Code") or "AWSLambdaException")
    request_id = error.response.get("ResponseMetadata", {}).get("RequestId", "")
    name = "Lambda.ServiceException" if status >= 500 else f"Lambda.{code}"
    message = details.get("Message") or str(error)
    cause = f"{message} (Service: Lambda, Status Code: {status}, Request ID: {request_id})"
    return name, cause


def invoke_async(world: World, region: str, function: str, payload: str) -> None:
    """An EventBridge target: InvocationType Event, from a thread; a failure is only logged (as AWS
    counts a FailedInvocation)."""

    def send() -> None:
        try:
            if world.url:
                lambda_client(world.url, function.split(":")[3] if function.startswith("arn:") else region).invoke(
                    FunctionName=function, InvocationType="Event", Payload=payload.encode()
                )
        except Exception:
            log.warning("EventBridge could not invoke %s", function, exc_info=True)

    threading.Thread(target=send, name="sandbox-events-lambda", daemon=True).start()
