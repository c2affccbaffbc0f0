"""Bucket policies as S3 applies them to an object request: a statement counts only when its conditions hold.

moto ignores condition operators it does not know (Bool among them) and treats a statement whose
condition fails as a Deny, whatever its Effect: the usual "deny anything not over TLS" statement
(`Bool aws:SecureTransport false`) then denied every request, and a bucket made private the
recommended way could not be written at all. Here a statement applies when its action, resource,
principal and every condition match the request's context, as in IAM: an explicit Deny wins, then an
Allow; a condition on a key the request has no value for is false (the `...IfExists` forms and `Null`
aside). The context holds what the sandbox knows of a request: it stands in for AWS's HTTPS
endpoints, so `aws:SecureTransport` is "true" even though the sandbox itself speaks plain HTTP.
"""

from __future__ import annotations

import fnmatch
import json
from typing import Any

CONTEXT = {"aws:SecureTransport": "true"}


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _matches(patterns: Any, value: str) -> bool:
    return any(fnmatch.fnmatchcase(value, str(pattern)) for pattern in _listed(patterns))


def _condition_holds(operator: str, key: str, expected: Any) -> bool:
    wanted = [str(v).lower() if operator.startswith("Bool") else str(v) for v in _listed(expected)]
    base = operator.removesuffix("IfExists")
    if key not in CONTEXT:
        if base == "Null":
            return "true" in wanted
        return operator.endswith("IfExists")
    actual = CONTEXT[key]
    if base == "Null":
        return "false" in wanted
    if base in ("Bool", "StringEquals", "ArnEquals"):
        return actual.lower() in wanted if base == "Bool" else actual in wanted
    if base in ("StringNotEquals", "ArnNotEquals"):
        return actual not in wanted
    if base in ("StringLike", "ArnLike"):
        return any(fnmatch.fnmatchcase(actual, w) for w in wanted)
    if base in ("StringNotLike", "ArnNotLike"):
        return not any(fnmatch.fnmatchcase(actual, w) for w in wanted)
    return False  # an operator the sandbox does not evaluate never makes a statement apply


def _applies(statement: dict[str, Any], action: str, resource: str) -> bool:
    if "NotAction" in statement:
        if _matches(statement["NotAction"], action):
            return False
    elif not _matches(statement.get("Action", []), action):
        return False
    if "Resource" in statement and not _matches(statement["Resource"], resource):
        return False
    principal = statement.get("Principal", "*")
    if principal != "*" and (not isinstance(principal, dict) or "*" not in _listed(principal.get("AWS", []))):
        return False  # a named principal: the sandbox's callers are nobody's in particular
    conditions = statement.get("Condition") or {}
    return all(_condition_holds(op, key, value) for op, keys in conditions.items() for key, value in keys.items())


def get_permission(self: Any, action: str, resource: str) -> Any:
    """Replaces moto's FakeBucket.get_permission (the check before every object request)."""
    from moto.iam.access_control import PermissionResult

    if self.policy is None:
        return PermissionResult.NEUTRAL
    document = json.loads(self.policy.decode() if isinstance(self.policy, bytes) else self.policy)
    effects = {str(s.get("Effect")) for s in _listed(document.get("Statement", [])) if _applies(s, action, resource)}
    if "Deny" in effects:
        return PermissionResult.DENIED
    return PermissionResult.PERMITTED if "Allow" in effects else PermissionResult.NEUTRAL
