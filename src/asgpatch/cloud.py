"""What the engine needs from AWS, as an interface: the `aws` package implements it with boto3,
tests implement it with fakes. Errors cross it as CloudError, never as botocore exceptions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from asgpatch.actions import Action
from asgpatch.model import GroupView, ImageView, Job, LaunchHook, Observation, ScheduledAction, TemplateView


class CloudError(Exception):
    """An AWS call failed after the adapter's retries."""

    def __init__(self, code: str, message: str, operation: str = "") -> None:
        super().__init__(f"{operation + ': ' if operation else ''}{code}: {message}")
        self.code = code
        self.message = message
        self.operation = operation


class SetupError(Exception):
    """The adapter cannot talk to AWS at all: no credentials, unknown profile, unreachable endpoint."""


@dataclass(frozen=True)
class Discovery:
    groups: tuple[GroupView, ...]  # groups carrying the patch tag (narrowed to `names` when given)
    untagged: tuple[GroupView, ...] = ()  # named with --asg but not carrying the tag (never changed)
    missing: tuple[str, ...] = ()  # named with --asg but not found


class Cloud(Protocol):
    def discover(self, tag_key: str, tag_value: str, names: Sequence[str] = ()) -> Discovery:
        """Groups whose tag `tag_key` equals `tag_value`; with `names`, only those (reporting the rest)."""
        ...

    def in_flight(self, names: Sequence[str] = ()) -> tuple[GroupView, ...]:
        """Groups carrying asgpatch:state, whatever their patch tag says now (narrowed to `names`)."""
        ...

    def trusts(self, group: GroupView) -> bool:
        """Whether the group's asgpatch:state tag carries asgpatch's seal for this group (seal.py)."""
        ...

    def template_users(self, template_ids: Sequence[str]) -> tuple[GroupView, ...]:
        """Every group in the region that names one of these templates (its LaunchTemplate, or a
        MixedInstancesPolicy's main specification or overrides), whatever its tags."""
        ...

    def template_views(self, groups: Sequence[GroupView]) -> dict[str, TemplateView]:
        """The launch templates these groups name, with the images of the versions they name."""
        ...

    def scheduled_actions(self, groups: Sequence[str]) -> dict[str, tuple[ScheduledAction, ...]]:
        """Each group's scheduled actions (for `plan`; a run reads them as it restores)."""
        ...

    def launch_hooks(self, groups: Sequence[str]) -> dict[str, tuple[LaunchHook, ...]]:
        """Each group's launch lifecycle hooks (for `plan`; a run reads them when one holds an instance)."""
        ...

    def observe(self, jobs: Sequence[Job], now: float) -> dict[str, Observation]:
        """One batched read of everything the jobs in flight need, keyed by group name."""
        ...

    def act(self, action: Action) -> str | int | None:
        """Carry out one action. Returns the new command id, image id or template version number
        for SendPatchCommand, CreateImage and CreateTemplateVersion; None otherwise."""
        ...

    def images(self, image_ids: Sequence[str]) -> dict[str, ImageView]:
        """State and creation time of these images (absent: deregistered or unknown)."""
        ...

    def publish(self, topic_arn: str, subject: str, message: str, attributes: Mapping[str, str]) -> None:
        """One SNS message with string message attributes."""
        ...
