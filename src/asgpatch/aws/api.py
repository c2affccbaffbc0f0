"""The clients plus the caller, and the two shapes every batched read takes: chunks and pages."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from asgpatch.aws.errors import Caller
from asgpatch.aws.session import Clients
from asgpatch.aws.state_key import StateKey

T = TypeVar("T")


def chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Consecutive slices of at most `size` items, duplicates dropped, order kept."""
    unique: Sequence[T] = list(dict.fromkeys(items))
    for start in range(0, len(unique), size):
        yield list(unique[start : start + size])


@dataclass(frozen=True)
class Api:
    clients: Clients
    caller: Caller
    state_key: StateKey = field(default_factory=StateKey)

    @property
    def autoscaling(self) -> Any:
        return self.clients.autoscaling

    @property
    def ec2(self) -> Any:
        return self.clients.ec2

    @property
    def ssm(self) -> Any:
        return self.clients.ssm

    @property
    def ssm_once(self) -> Any:
        return self.clients.ssm_once or self.clients.ssm

    @property
    def sns(self) -> Any:
        return self.clients.sns

    @property
    def elbv2(self) -> Any:
        return self.clients.elbv2

    @property
    def elb(self) -> Any:
        return self.clients.elb

    @property
    def s3(self) -> Any:
        return self.clients.s3

    def call(self, fn: Callable[..., Any], **params: Any) -> dict[str, Any]:
        answer: dict[str, Any] = self.caller.call(fn, **params)
        return answer

    def pages(self, fn: Callable[..., Any], key: str, **params: Any) -> Iterator[list[dict[str, Any]]]:
        """One list of items per page, following NextToken; stop iterating to stop paging."""
        token: str | None = None
        while True:
            answer = self.call(fn, **params, **({"NextToken": token} if token else {}))
            yield list(answer.get(key) or [])
            token = answer.get("NextToken")
            if not token:
                return

    def items(self, fn: Callable[..., Any], key: str, **params: Any) -> Iterator[dict[str, Any]]:
        for page in self.pages(fn, key, **params):
            yield from page
