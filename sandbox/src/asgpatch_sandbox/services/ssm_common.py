"""What every SSM operation the sandbox answers shares: AWS's errors, times and pagination."""

from __future__ import annotations

import base64
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from moto.core.responses import ActionResult
from moto.ssm.exceptions import SSMException


def ssm_error(code: str, message: str) -> SSMException:
    return SSMException(code, message)


def constraint_error(field_name: str, value: object, constraint: str) -> SSMException:
    """AWS's wording for a request that breaks the API model's limits (botocore checks only minimums)."""
    return ssm_error(
        "ValidationException",
        f"1 validation error detected: Value '{value}' at '{field_name}' failed to satisfy constraint: "
        f"Member must {constraint}",
    )


def invalid_instances(ids: Iterable[str], account_id: str) -> SSMException:
    return ssm_error(
        "InvalidInstanceId", f"Instances [[{', '.join(ids)}]] not in a valid state for account {account_id}"
    )


def check_max(field_name: str, value: int | None, limit: int) -> None:
    if value is not None and value > limit:
        raise constraint_error(field_name, value, f"have value less than or equal to {limit}")


def check_length(field_name: str, items: list[Any] | str | None, limit: int) -> None:
    if items is not None and len(items) > limit:
        raise constraint_error(field_name, items, f"have length less than or equal to {limit}")


def utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


def iso(ts: float | None) -> str:
    """GetCommandInvocation reports times as ISO 8601 strings, empty when the step has not run."""
    if ts is None:
        return ""
    return utc(ts).strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc(ts).microsecond // 1000:03d}Z"


def elapsed(start: float | None, end: float | None) -> str:
    if start is None or end is None:
        return ""
    seconds = max(0.0, end - start)
    minutes, rest = divmod(seconds, 60)
    return f"PT{int(minutes)}M{rest:.3f}S" if minutes else f"PT{rest:.3f}S"


def parse_time(value: str) -> float:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError as error:
        raise ssm_error("ValidationException", f"Invalid timestamp '{value}' in a filter.") from error


def page(items: list[Any], token: str | None, size: int, kind: str) -> tuple[list[Any], str | None]:
    """One page of items and the opaque token for the next, as AWS list operations answer."""
    start = 0
    if token:
        try:
            prefix, _, offset = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
            start = int(offset)
        except (ValueError, UnicodeDecodeError) as error:
            raise ssm_error("InvalidNextToken", "The specified token isn't valid.") from error
        if prefix != kind or start < 0:
            raise ssm_error("InvalidNextToken", "The specified token isn't valid.")
    end = start + size
    following = base64.urlsafe_b64encode(f"{kind}:{end}".encode()).decode() if end < len(items) else None
    return items[start:end], following


def paged(key: str, items: list[Any], token: str | None) -> ActionResult:
    """A list operation's answer: the page under `key`, and NextToken when there is more."""
    answer: dict[str, Any] = {key: items}
    if token:
        answer["NextToken"] = token
    return ActionResult(answer)
