"""The value parsers behind every setting: text (a flag or an environment variable) or a TOML value in,
a validated value out, or `Invalid` with a sentence template the resolver (config.py) fills in with the
key and where its value came from."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import datetime
from urllib.parse import urlsplit

MAX_CONCURRENCY = 100
MAX_TIMEOUT = 7 * 24 * 3600  # a week: far beyond any real wait, and keeps times finite for sleep and SSM
MAX_POLL_SECONDS = 3600.0
TAG_KEY_LIMIT = 128  # Auto Scaling tag limits
TAG_VALUE_LIMIT = 256
GROUP_NAME_LIMIT = 255
OWN_TAG_PREFIX = "asgpatch:"  # asgpatch:state, asgpatch:last-result, asgpatch:lease are ours to rewrite

TRUE = frozenset({"true", "1", "yes", "on"})
FALSE = frozenset({"false", "0", "no", "off"})
SHOWN_LIMIT = 60


class Invalid(Exception):
    """Raised by the parsers: a template with {label} and {got}, filled in by the resolver that knows the source."""

    def __init__(self, template: str) -> None:
        super().__init__(template)
        self.template = template


# --- parsers: text (flag or environment) or TOML value in, validated value out ----------------------------


def show(value: object) -> str:
    """The offending value as it appears in a message: repr (so '' and ' ' are visible), kept short."""
    text = repr(value)
    return text if len(text) <= SHOWN_LIMIT else text[: SHOWN_LIMIT - 3] + "..."


def string(value: object) -> str:
    if not isinstance(value, str):
        raise Invalid("{label} must be a string (got {got})")
    return value


def optional_text(value: object, from_text: bool) -> str:
    """region, profile, report path: any non-blank string."""
    text = string(value)
    if not text.strip():
        raise Invalid("{label} must not be blank (got {got})")
    return text


def endpoint_url(value: object, from_text: bool) -> str:
    """Checked here because botocore answers a malformed endpoint with a ValueError deep in a client."""
    text = string(value).strip()
    requirement = "{label} must be an http:// or https:// URL (got {got})"
    if not text.isprintable() or any(char.isspace() for char in text):
        raise Invalid(requirement)
    try:
        parts = urlsplit(text)
        _ = parts.port  # reading the port validates it
    except ValueError:
        raise Invalid(requirement) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Invalid(requirement)
    return text


def parameter_name(value: object, from_text: bool) -> str:
    """An SSM parameter name as PutParameter accepts it: a path of letters, digits and _.-, not under aws/ssm."""
    text = string(value).strip()
    allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-/")
    first = text.lstrip("/").split("/")[0].lower()
    if not 0 < len(text) <= 1011 or set(text) - allowed or first.startswith(("aws", "ssm")) or "//" in text:
        raise Invalid(
            "{label} must be an SSM parameter name like /asgpatch/state-key, not under aws or ssm (got {got})"
        )
    return text


def topic_arn(value: object, from_text: bool) -> str:
    """arn:PARTITION:sns:REGION:ACCOUNT:NAME, checked so a typo fails before any group is touched."""
    text = string(value).strip()
    parts = text.split(":")
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "sns" or not all(parts[i] for i in (1, 3, 4, 5)):
        raise Invalid("{label} must be an SNS topic ARN like arn:aws:sns:REGION:ACCOUNT:NAME (got {got})")
    return text


def tag_key(value: object, from_text: bool) -> str:
    """The tag decides which groups are changed, so an empty or asgpatch-owned key is refused, never guessed."""
    text = string(value)
    if not text.strip():
        raise Invalid("the tag key must not be empty ({label} is {got})")
    if len(text) > TAG_KEY_LIMIT:
        raise Invalid(f"{{label}} must be at most {TAG_KEY_LIMIT} characters (got {{got}})")
    if text.startswith(OWN_TAG_PREFIX):
        raise Invalid(f"{{label}} must not be one of asgpatch's own {OWN_TAG_PREFIX}* tags (got {{got}})")
    return text


def tag_value(value: object, from_text: bool) -> str:
    """An empty value is a real tag value in AWS, so only the length is checked."""
    text = string(value)
    if len(text) > TAG_VALUE_LIMIT:
        raise Invalid(f"{{label}} must be at most {TAG_VALUE_LIMIT} characters (got {{got}})")
    return text


def choice(*allowed: str) -> Callable[[object, bool], str]:
    """Case-insensitive on input, canonical spelling out (SSM's parameter values are case-sensitive)."""
    canonical = {name.lower(): name for name in allowed}
    wording = " or ".join(allowed) if len(allowed) == 2 else ", ".join(allowed)

    def parse(value: object, from_text: bool) -> str:
        text = string(value).strip().lower()
        if text not in canonical:
            raise Invalid(f"{{label}} must be {wording} (got {{got}})")
        return canonical[text]

    return parse


def operation(value: object, from_text: bool) -> str:
    """Only an Install produces an image worth baking: a Scan would bake the instance unpatched."""
    if string(value).strip().lower() == "scan":
        raise Invalid(
            "{label} Scan would bake an image that was never patched: asgpatch runs AWS-RunPatchBaseline "
            "with Install only (got {got})"
        )
    return choice("Install")(value, from_text)


def whole_number(low: int, high: int) -> Callable[[object, bool], int]:
    requirement = f"{{label}} must be a whole number from {low} to {high} (got {{got}})"

    def parse(value: object, from_text: bool) -> int:
        if from_text and isinstance(value, str):
            try:
                value = int(value.strip())
            except ValueError:
                raise Invalid(requirement) from None
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise Invalid(requirement)
        return value

    return parse


def seconds(high: float) -> Callable[[object, bool], float]:
    """A positive, finite number of seconds (int or float), at most `high` (so sleeps and SSM stay sane)."""
    requirement = "{label} must be a number > 0 (got {got})"

    def parse(value: object, from_text: bool) -> float:
        if from_text and isinstance(value, str):
            try:
                value = float(value.strip())
            except ValueError:
                raise Invalid(requirement) from None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise Invalid(requirement)
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if math.isnan(number) or number <= 0:
            raise Invalid(requirement)
        if number > high:
            raise Invalid(f"{{label}} must be at most {high:g} seconds (got {{got}})")
        return number

    return parse


def boolean(value: object, from_text: bool) -> bool:
    if from_text and isinstance(value, str):
        word = value.strip().lower()
        if word in TRUE | FALSE:
            return word in TRUE
    if not isinstance(value, bool):
        raise Invalid("{label} must be true or false (got {got})")
    return value


def moment(value: object, from_text: bool) -> float | None:
    """An ISO 8601 time with a zone (Z or +hh:mm) as epoch seconds: a deadline must be unambiguous."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise Invalid("{label} must be an ISO 8601 time such as 2026-12-09T06:00:00Z (got {got})") from None
    else:
        raise Invalid("{label} must be an ISO 8601 time such as 2026-12-09T06:00:00Z (got {got})")
    if moment.tzinfo is None:
        raise Invalid("{label} needs a time zone, e.g. 2026-12-09T06:00:00Z (got {got})")
    return moment.timestamp()


def group_names(value: object, from_text: bool) -> tuple[str, ...]:
    """A list, or comma-separated text; order kept, duplicates dropped. Text that names no group is refused:
    an empty narrowing would silently widen the run to every tagged group."""
    if from_text and isinstance(value, str):
        items: list[object] = [part.strip() for part in value.split(",") if part.strip()]
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        raise Invalid("{label} must be a list of Auto Scaling group names (got {got})")
    if not items and from_text and isinstance(value, str):
        raise Invalid("{label} names no Auto Scaling group (got {got})")
    for item in items:
        if not isinstance(item, str) or not item.strip() or len(item) > GROUP_NAME_LIMIT:
            raise Invalid(
                f"{{label}} must list Auto Scaling group names of 1 to {GROUP_NAME_LIMIT} characters (got {{got}})"
            )
    return tuple(dict.fromkeys(item for item in items if isinstance(item, str)))


REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")  # us-east-1, eu-central-2, us-gov-west-1, ap-southeast-5


def regions(value: object, from_text: bool) -> tuple[str, ...]:
    """One region, a list, or comma-separated text; order kept, duplicates dropped."""
    if isinstance(value, str):
        items: list[object] = [part.strip() for part in value.split(",") if part.strip()]
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        raise Invalid("{label} must be an AWS region or a list of them (got {got})")
    if not items:
        raise Invalid("{label} names no region (got {got})")
    for item in items:
        if not isinstance(item, str) or not REGION.match(item.strip()):
            raise Invalid("{label} must be AWS regions such as us-east-1 (got {got})")
    return tuple(dict.fromkeys(item.strip() for item in items if isinstance(item, str)))
