"""What each AWS call of the adapter needs from IAM, declared beside the call (as Cloud Custodian's
actions declare theirs), so that the policy in docs/iam.md and in the deployed stack is built from one
list and never written twice.

A `Grant` names IAM actions and the scope AWS lets them be narrowed to: a scope is one kind of
statement (its resources and conditions), filled in by policy.py for a tag key, account and bucket.
Writes declare theirs with `@needs(...)` on the function that makes the call; reads with `reads(...)`
at the top of the module that makes them. Actions AWS authorizes implicitly (tagging on CreateImage,
launching on UpdateAutoScalingGroup) are declared by the call that causes them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import TypeVar

F = TypeVar("F", bound=Callable[..., object])


class Scope(Enum):
    """How far AWS lets an action be narrowed; each becomes one or two statements (policy.py)."""

    ANY = "any resource: AWS has no resource type or condition for it"
    LOAD_BALANCERS = "the groups' target groups and Classic Load Balancers"
    COMMANDS = "commands asgpatch sent (SSM offers no narrower resource for CancelCommand)"
    GROUPS_ASGPATCH_MAY_HOLD = "groups carrying the patch tag, or asgpatch's own state tag"
    OWN_TAGS_ON_THOSE_GROUPS = "only tags whose keys start asgpatch:, on those groups"
    PATCH_DOCUMENT_ON_INSTANCES = "the AWS-RunPatchBaseline document, on the account's instances"
    STATE_KEY_PARAMETER = "the SecureString parameter holding the state-tag seal's key"
    RUN_STATE_OBJECTS = "objects in the run bucket"
    RUN_STATE_BUCKET = "the run bucket itself"
    IMAGES = "new images and snapshots, from instances an Auto Scaling group launched"
    OWN_IMAGES = "images and snapshots asgpatch made (tagged asgpatch:group)"
    TAGS_ON_NEW_IMAGES = "tags on images and snapshots, only while CreateImage makes them"
    LAUNCH_TEMPLATES = "the account's launch templates"
    LAUNCH_FROM_TEMPLATES = "what the groups' templates launch: Auto Scaling checks that the caller may"
    INSTANCE_ROLES = "the instance roles the groups' templates name, passed to EC2 only"
    TOPIC = "the notification topic"


@dataclass(frozen=True)
class Grant:
    actions: tuple[str, ...]
    scope: Scope
    why: str = ""  # for docs/iam.md when the need is not obvious from the call
    implicit: bool = False  # authorized by AWS as part of another call, never called by asgpatch itself


@dataclass(frozen=True)
class Declared:
    where: str  # module.function (or module, for reads) that makes the call
    grant: Grant


DECLARED: list[Declared] = []


def grant(scope: Scope, *actions: str, why: str = "", implicit: bool = False) -> Grant:
    return Grant(tuple(actions), scope, why, implicit)


def needs(*grants: Grant) -> Callable[[F], F]:
    """Declare what the decorated adapter function needs; the function itself is unchanged."""

    def declare(function: F) -> F:
        where = f"{function.__module__}.{getattr(function, '__name__', '?')}"
        DECLARED.extend(Declared(where, g) for g in grants)
        return function

    return declare


def reads(module: str, *actions: str, why: str = "") -> None:
    """Declare the read-only calls a module makes: AWS scopes none of these below `*`."""
    DECLARED.append(Declared(module, Grant(tuple(actions), Scope.ANY, why)))


def mutating(action: str) -> bool:
    """Whether an IAM action changes anything (AWS's own naming: reads are Describe, Get, List)."""
    verb = action.split(":", 1)[1]
    return not verb.startswith(("Describe", "Get", "List"))
