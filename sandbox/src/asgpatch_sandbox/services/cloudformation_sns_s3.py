"""AWS::SNS::Subscription, AWS::SNS::TopicPolicy and AWS::S3::BucketPolicy, which moto's CloudFormation
skipped with a warning (so a stack's queue never received what its topic published, and its policies
were never set). Each goes through moto's own backend, so the API sees what the stack made.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from moto.core.common_models import CloudFormationModel
from moto.core.exceptions import ServiceException

from asgpatch_sandbox.services.cloudformation_resources import ResourceFailed, SandboxResource, handler_failed
from asgpatch_sandbox.world import current


def _sns(region: str) -> Any:
    from moto.sns.models import sns_backends

    return sns_backends[current().account_id][region]


def _required(logical_id: str, properties: dict[str, Any], keys: tuple[str, ...]) -> None:
    missing = [f"#: required key [{key}] not found" for key in keys if not properties.get(key)]
    if missing:
        raise ResourceFailed(logical_id, f"Properties validation failed for resource {logical_id} with message: "
                                         f"[{', '.join(missing)}]")  # fmt: skip


def _text(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value).lower() if isinstance(value, bool) else str(value)


def _region_of(arn: str, default: str) -> str:
    return arn.split(":")[3] if arn.count(":") >= 5 else default


SUBSCRIPTION_ATTRIBUTES = ("RawMessageDelivery", "FilterPolicyScope", "FilterPolicy", "RedrivePolicy",
                           "DeliveryPolicy", "SubscriptionRoleArn")  # fmt: skip
CONFIRMED_BY_OWNER = ("email", "email-json", "http", "https")  # the endpoint's owner must confirm


class SnsSubscription(SandboxResource, CloudFormationModel):
    """Through moto's SNS backend, so an SQS queue subscribed here receives what the topic publishes.

    Email (and HTTP) endpoints stay PendingConfirmation, as on AWS until the recipient follows the
    link; nothing is ever delivered to them.
    """

    TYPE = "AWS::SNS::Subscription"
    ATTRIBUTES = {"Arn": "physical_id"}

    @classmethod
    def create(cls, logical_id: str, name: str, properties: dict[str, Any], region: str) -> SandboxResource:
        _required(logical_id, properties, ("TopicArn", "Protocol"))
        topic_region = _region_of(str(properties["TopicArn"]), region)
        backend = _sns(topic_region)
        try:
            subscription = backend.subscribe(properties["TopicArn"], properties.get("Endpoint"), properties["Protocol"])
            for key in SUBSCRIPTION_ATTRIBUTES:
                if key in properties:
                    backend.set_subscription_attributes(subscription.arn, key, _text(properties[key]))
        except ServiceException as error:
            raise handler_failed(logical_id, "Sns", error) from None
        if properties["Protocol"] in CONFIRMED_BY_OWNER:
            subscription.confirmed = False
            subscription.attributes.update(PendingConfirmation="true", ConfirmationWasAuthenticated="false")
        made = cls(logical_id, subscription.arn, topic_region)
        made.properties = properties
        return made

    def change(self, properties: dict[str, Any]) -> None:
        """Topic, protocol or endpoint changed: a new subscription; otherwise its attributes change."""
        if any(properties.get(k) != self.properties.get(k) for k in ("TopicArn", "Protocol", "Endpoint")):
            replacement = self.create(self.logical_id, "", properties, self.region)
            self.delete("", self.region)
            self.physical_id, self.region = replacement.physical_id, replacement.region
        else:
            backend = _sns(self.region)
            for key in SUBSCRIPTION_ATTRIBUTES:
                if key in properties and properties[key] != self.properties.get(key):
                    backend.set_subscription_attributes(self.physical_id, key, _text(properties[key]))
        self.properties = properties

    def delete(self, account_id: str, region_name: str) -> None:
        _sns(self.region).unsubscribe(self.physical_id)


class SnsTopicPolicy(SandboxResource, CloudFormationModel):
    """Sets the topics' Policy attribute; deleting it puts back each topic's default policy."""

    TYPE = "AWS::SNS::TopicPolicy"
    ATTRIBUTES = {"Id": "physical_id"}

    def change(self, properties: dict[str, Any]) -> None:
        _required(self.logical_id, properties, ("PolicyDocument", "Topics"))
        text = _text(properties["PolicyDocument"])
        try:
            json.loads(text)
            topics = [_sns(_region_of(arn, self.region)).get_topic(arn) for arn in properties["Topics"]]
        except (ServiceException, ValueError) as error:
            raise handler_failed(self.logical_id, "Sns", error) from None
        self._restore([arn for arn in self.topics if arn not in properties["Topics"]])
        for topic in topics:
            topic.policy = text
        self.topics = list(properties["Topics"])

    def _restore(self, arns: list[str]) -> None:
        for arn in arns:
            backend = _sns(_region_of(arn, self.region))
            topic = backend.topics.get(arn)
            if topic is not None:
                topic._policy_json = topic._create_default_topic_policy(
                    backend.region_name, topic.account_id, topic.name
                )

    def delete(self, account_id: str, region_name: str) -> None:
        self._restore(self.topics)


class S3BucketPolicy(SandboxResource, CloudFormationModel):
    """Puts the bucket's policy (GetBucketPolicy answers it); deleting it deletes the policy."""

    TYPE = "AWS::S3::BucketPolicy"
    ATTRIBUTES: dict[str, str] = {}

    def change(self, properties: dict[str, Any]) -> None:
        _required(self.logical_id, properties, ("Bucket", "PolicyDocument"))
        bucket, backend = str(properties["Bucket"]), _s3()
        try:
            backend.put_bucket_policy(bucket, _text(properties["PolicyDocument"]).encode())
        except ServiceException as error:
            raise handler_failed(self.logical_id, "S3", error) from None
        if self.properties and self.properties["Bucket"] != bucket:
            self.delete("", self.region)
        self.properties = properties

    def delete(self, account_id: str, region_name: str) -> None:
        with contextlib.suppress(ServiceException):  # the bucket went first: its policy with it
            _s3().delete_bucket_policy(str(self.properties["Bucket"]))


def _s3() -> Any:
    from moto.s3.models import s3_backends

    return s3_backends[current().account_id]["aws"]


TYPES: tuple[type[SandboxResource], ...] = (SnsSubscription, SnsTopicPolicy, S3BucketPolicy)
