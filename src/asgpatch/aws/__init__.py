"""The only package that imports boto3: the `Cloud` interface carried out against AWS.

    cloud = AwsCloud(connect(region, profile, endpoint_url))
    cloud.check()                     # SetupError when AWS cannot be used at all
    cloud.discover(...); cloud.observe(...); cloud.act(...); cloud.publish(...)

Every call goes through one Caller (CloudError out, contention retried with an injected sleep).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence

from asgpatch.actions import Action
from asgpatch.aws import discover as discovering
from asgpatch.aws import observe as observing
from asgpatch.aws import write
from asgpatch.aws.api import Api
from asgpatch.aws.errors import Caller
from asgpatch.aws.groups import template_users
from asgpatch.aws.images import images_by_id
from asgpatch.aws.lifecycle import launch_hooks
from asgpatch.aws.scheduled import scheduled_actions
from asgpatch.aws.session import Clients, connect
from asgpatch.aws.state_key import DEFAULT_PARAMETER, StateKey
from asgpatch.aws.templates import templates_named_by
from asgpatch.cloud import CloudError, Discovery, SetupError
from asgpatch.model import GroupView, ImageView, Job, LaunchHook, Observation, ScheduledAction, TemplateView
from asgpatch.seal import verified

__all__ = ["AwsCloud", "Clients", "connect"]


class AwsCloud:
    """Cloud over boto3 clients. `sleep` paces the contention retries (tests pass a fake)."""

    def __init__(
        self,
        clients: Clients,
        sleep: Callable[[float], None] = time.sleep,
        attempts: int = 5,
        state_key_parameter: str = DEFAULT_PARAMETER,
    ) -> None:
        self.clients = clients
        self._account: str | None = None
        self.api = Api(clients, Caller(sleep=sleep, attempts=attempts), StateKey(state_key_parameter))

    @property
    def region(self) -> str:
        return str(self.clients.autoscaling.meta.region_name)

    @property
    def account(self) -> str:
        """The account the credentials act in (STS GetCallerIdentity, which needs no permission), read once:
        a group is (account, region, name)."""
        if self._account is None:
            try:
                answer = self.api.call(self.clients.sts.get_caller_identity)
            except CloudError as error:
                raise SetupError(f"cannot tell which account the credentials are for: {error}") from None
            self._account = str(answer["Account"])
        return self._account

    def check(self) -> None:
        self.clients.check()

    def prepare_seals(self, create: bool) -> None:
        """Read the key state tags are sealed with (creating it for a command that writes state) before
        anything else: a run that cannot is stopped before it changes anything."""
        try:
            self.api.state_key.get(self.api, create=create)
        except CloudError as error:
            parameter = self.api.state_key.parameter
            raise SetupError(f"cannot read or create the state key {parameter}: {error}") from None

    def trusts(self, group: GroupView) -> bool:
        try:
            key = self.api.state_key.get(self.api, create=False)
        except CloudError:
            return False
        return verified(key, group.name, group.tags)

    def discover(self, tag_key: str, tag_value: str, names: Sequence[str] = ()) -> Discovery:
        return discovering.discover(self.api, tag_key, tag_value, names)

    def in_flight(self, names: Sequence[str] = ()) -> tuple[GroupView, ...]:
        return discovering.in_flight(self.api, names)

    def template_users(self, template_ids: Sequence[str]) -> tuple[GroupView, ...]:
        return template_users(self.api, template_ids) if template_ids else ()

    def template_views(self, groups: Sequence[GroupView]) -> dict[str, TemplateView]:
        return templates_named_by(self.api, groups)

    def scheduled_actions(self, groups: Sequence[str]) -> dict[str, tuple[ScheduledAction, ...]]:
        return scheduled_actions(self.api, groups)

    def launch_hooks(self, groups: Sequence[str]) -> dict[str, tuple[LaunchHook, ...]]:
        return launch_hooks(self.api, groups)

    def observe(self, jobs: Sequence[Job], now: float) -> dict[str, Observation]:
        return observing.observe(self.api, jobs, now)

    def act(self, action: Action) -> str | int | None:
        return write.act(self.api, action)

    def images(self, image_ids: Sequence[str]) -> dict[str, ImageView]:
        return images_by_id(self.api, image_ids) if image_ids else {}

    def publish(self, topic_arn: str, subject: str, message: str, attributes: Mapping[str, str]) -> None:
        write.publish(self.api, topic_arn, subject, message, attributes)
