"""The calls `asgpatch deploy` makes: the artifact bucket and the zip in it, and the stack through change sets.

These are the deployer's calls, not the engine's: they are not declared for the engine's policy
(permissions.py), and docs/deploy.md lists what the deploying principal needs. Errors come out as
CloudError, with contention retried, like every other adapter call.
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ProfileNotFound

from asgpatch.aws.errors import Caller
from asgpatch.aws.session import NO_CREDENTIALS, NO_REGION, USER_AGENT
from asgpatch.cloud import CloudError, SetupError

CAPABILITIES = ["CAPABILITY_IAM"]
NO_CHANGES = ("didn't contain changes", "No updates are to be performed")


class StackApi:
    """One region's CloudFormation, S3 and STS, for one deploy."""

    def __init__(self, region: str | None, profile: str | None, endpoint_url: str | None) -> None:
        try:
            session = boto3.Session(profile_name=profile or None)
        except ProfileNotFound:
            raise SetupError(f"unknown AWS profile {profile!r} (not in the AWS config or credentials file)") from None
        except BotoCoreError as error:
            raise SetupError(f"cannot load AWS credentials: {error}") from None
        import os

        self.region = region or os.environ.get("AWS_REGION") or session.region_name or ""
        if not self.region:
            raise SetupError(NO_REGION)
        if session.get_credentials() is None:
            raise SetupError(NO_CREDENTIALS)
        config = Config(retries={"mode": "standard", "total_max_attempts": 8}, user_agent_extra=USER_AGENT)

        def client(service: str) -> Any:
            return session.client(service, region_name=self.region, endpoint_url=endpoint_url or None, config=config)

        self.cloudformation, self.s3, self.sts = client("cloudformation"), client("s3"), client("sts")
        self.caller = Caller()

    def call(self, fn: Any, **params: Any) -> dict[str, Any]:
        answer: dict[str, Any] = self.caller.call(fn, **params)
        return answer

    def account(self) -> str:
        return str(self.call(self.sts.get_caller_identity)["Account"])

    # --- the artifact bucket ------------------------------------------------------------------------

    def bucket_exists(self, bucket: str) -> bool:
        try:
            self.call(self.s3.head_bucket, Bucket=bucket)
        except CloudError as error:
            if error.code in ("404", "NoSuchBucket", "NotFound"):
                return False
            raise
        return True

    def create_bucket(self, bucket: str) -> None:
        """Private and encrypted, as the run bucket the stack makes."""
        where = {} if self.region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": self.region}}
        self.call(self.s3.create_bucket, Bucket=bucket, **where)
        self.call(
            self.s3.put_public_access_block,
            Bucket=bucket,
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": True,
                "IgnorePublicAcls": True,
                "BlockPublicPolicy": True,
                "RestrictPublicBuckets": True,
            },
        )
        self.call(self.s3.put_bucket_encryption, Bucket=bucket, ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})  # fmt: skip

    def object_exists(self, bucket: str, key: str) -> bool:
        try:
            self.call(self.s3.head_object, Bucket=bucket, Key=key)
        except CloudError as error:
            if error.code in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def upload(self, bucket: str, key: str, data: bytes) -> None:
        self.call(self.s3.put_object, Bucket=bucket, Key=key, Body=data, ContentType="application/zip")

    # --- the stack ----------------------------------------------------------------------------------

    def stack(self, name: str) -> dict[str, Any] | None:
        try:
            found = self.call(self.cloudformation.describe_stacks, StackName=name)["Stacks"]
        except CloudError as error:
            if error.code == "ValidationError" and "does not exist" in error.message:
                return None
            raise
        return dict(found[0]) if found else None

    def create_change_set(self, name: str, change_set: str, kind: str, body: str,
                          parameters: list[dict[str, Any]]) -> str:  # fmt: skip
        answer = self.call(
            self.cloudformation.create_change_set, StackName=name, ChangeSetName=change_set, ChangeSetType=kind,
            TemplateBody=body, Parameters=parameters, Capabilities=CAPABILITIES,
            Description="asgpatch deploy", Tags=[{"Key": "asgpatch:deployed-by", "Value": "asgpatch deploy"}],
        )  # fmt: skip
        return str(answer["Id"])

    def change_set(self, change_set_id: str) -> dict[str, Any]:
        """The change set with all its changes (they come in pages)."""
        fn = self.cloudformation.describe_change_set
        answer = self.call(fn, ChangeSetName=change_set_id)
        changes = list(answer.get("Changes") or [])
        while answer.get("NextToken"):
            answer = self.call(fn, ChangeSetName=change_set_id, NextToken=answer["NextToken"])
            changes += answer.get("Changes") or []
        return {**answer, "Changes": changes}

    def execute(self, change_set_id: str) -> None:
        self.call(self.cloudformation.execute_change_set, ChangeSetName=change_set_id)

    def delete_change_set(self, change_set_id: str) -> None:
        self.call(self.cloudformation.delete_change_set, ChangeSetName=change_set_id)

    def delete_stack(self, name: str) -> None:
        self.call(self.cloudformation.delete_stack, StackName=name)

    def events(self, name: str) -> list[dict[str, Any]]:
        """The stack's events, newest first (the first page is enough to follow a deploy)."""
        return list(self.call(self.cloudformation.describe_stack_events, StackName=name).get("StackEvents") or [])
