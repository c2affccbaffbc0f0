"""Every AWS call goes through `Caller.call`: botocore exceptions become CloudError, and the Auto Scaling
contention errors botocore does not retry on its own are retried here, with backoff, jitter and an
injected sleep (so tests never wait).

botocore's `standard` retry mode already rides out throttling, 5xx and connection resets; what it
leaves to the caller are ScalingActivityInProgress (HTTP 400) and, once its own attempts are spent,
ResourceContention — both documented for UpdateAutoScalingGroup and friends as "try again later".
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from asgpatch.cloud import CloudError

CONTENTION = frozenset({"ResourceContention", "ScalingActivityInProgress"})
# What botocore's standard mode would have retried: throttling, 5xx, and connections lost on the way.
TRANSIENT = frozenset({
    "Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException",
    "InternalFailure", "InternalError", "InternalServerError", "ServiceUnavailable", "Unavailable",
    "RequestTimeout", "RequestTimeoutException",
    "ConnectionClosedError", "EndpointConnectionError", "ReadTimeoutError", "ConnectTimeoutError",
})  # fmt: skip


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", "Unknown"))


def translate(error: Exception, operation: str = "") -> CloudError:
    """A botocore exception as the engine's CloudError (code, message, operation)."""
    if isinstance(error, ClientError):
        answer = error.response.get("Error", {})
        return CloudError(
            str(answer.get("Code", "Unknown")), str(answer.get("Message", "")), error.operation_name or operation
        )
    if isinstance(error, BotoCoreError):
        return CloudError(type(error).__name__, str(error), operation)
    return CloudError(type(error).__name__, str(error), operation)


def operation_of(fn: Callable[..., Any]) -> str:
    """The API name of a bound client method (describe_images -> DescribeImages)."""
    name = getattr(fn, "__name__", "")
    owner = getattr(fn, "__self__", None)
    mapping = getattr(getattr(owner, "meta", None), "method_to_api_mapping", None) or {}
    return str(mapping.get(name, name))


@dataclass
class Caller:
    """Calls client methods: CloudError out, contention retried `attempts` times in all."""

    sleep: Callable[[float], None] = time.sleep
    attempts: int = 5
    base: float = 1.0
    cap: float = 20.0
    jitter: Callable[[], float] = field(default=random.random)

    def delay(self, attempt: int) -> float:
        """Exponential backoff with "equal jitter": half fixed, half random, never zero."""
        ceiling = min(self.cap, self.base * 2**attempt)
        return ceiling / 2 + self.jitter() * ceiling / 2

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        operation = operation_of(fn)
        attempt = 0
        while True:
            try:
                return fn(*args, **kwargs)
            except ClientError as error:
                attempt += 1
                if error_code(error) not in CONTENTION or attempt >= self.attempts:
                    raise translate(error, operation) from error
                self.sleep(self.delay(attempt - 1))
            except BotoCoreError as error:
                raise translate(error, operation) from error
