"""One boto3 session and its clients, so every AWS call shares one credential chain and retry policy.

Creating clients does no I/O; `Clients.check` makes the one cheap call that proves the endpoint and the
credentials work, and turns every way that can fail into a one-sentence `SetupError`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    PartialCredentialsError,
    ProfileNotFound,
    ReadTimeoutError,
)

from asgpatch import __version__
from asgpatch.cloud import SetupError

NO_CREDENTIALS = (
    "no AWS credentials found (set AWS_PROFILE, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run aws configure)"
)
NO_REGION = "no AWS region set (use --region, AWS_REGION / AWS_DEFAULT_REGION, or a profile with a region)"
USER_AGENT = f"asgpatch/{__version__}"
# The setup check must fail fast on a wrong endpoint, not ride out a long retry storm.
PROBE_CONFIG = Config(
    connect_timeout=3,
    read_timeout=10,
    retries={"mode": "standard", "total_max_attempts": 5},  # a transient 5xx must not stop a run
    user_agent_extra=USER_AGENT,
)


@dataclass(frozen=True)
class Clients:
    autoscaling: Any
    ec2: Any
    ssm: Any
    sns: Any
    probe: Any  # an autoscaling client with short timeouts, for `check`
    # SSM without botocore's retries, for SendCommand: a retry must first look for the command that a
    # lost answer may already have created (SendCommand has no client token).
    ssm_once: Any = None
    elbv2: Any = None  # target groups: instances a scale-out launched during the window are registered
    elb: Any = None  # Classic Load Balancers, the same
    s3: Any = None  # the run store, for `s3://` run states (aws/run_store.py)
    sts: Any = None  # which account the credentials act in

    @property
    def endpoint_url(self) -> str:
        return str(self.autoscaling.meta.endpoint_url)

    def check(self) -> None:
        """One cheap read (DescribeAutoScalingGroups, MaxRecords 1): raises SetupError when AWS is unusable."""
        try:
            self.probe.describe_auto_scaling_groups(MaxRecords=1)
        except (NoCredentialsError, PartialCredentialsError):
            raise SetupError(NO_CREDENTIALS) from None
        except (EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError) as error:
            raise SetupError(f"cannot reach the AWS endpoint {self.endpoint_url}: {error}") from None
        except ClientError as error:
            answer = error.response.get("Error", {})
            raise SetupError(
                f"the AWS endpoint {self.endpoint_url} refused DescribeAutoScalingGroups: "
                f"{answer.get('Code', 'Unknown')}: {answer.get('Message', '')}"
            ) from None
        except BotoCoreError as error:
            raise SetupError(f"cannot use the AWS endpoint {self.endpoint_url}: {error}") from None


def connect(region: str | None, profile: str | None, endpoint_url: str | None, max_attempts: int = 8) -> Clients:
    """Clients for one account and region. Explicit arguments win; otherwise boto3's own chain
    (AWS_PROFILE, AWS_ENDPOINT_URL, ~/.aws/config, instance roles) decides, and the region comes as the
    AWS CLI v2 takes it: AWS_REGION, then AWS_DEFAULT_REGION, then the profile (botocore alone
    ignores AWS_REGION)."""
    try:
        session = boto3.Session(profile_name=profile or None)
        chosen_region = region or os.environ.get("AWS_REGION") or session.region_name
        credentials = session.get_credentials() if chosen_region else None
    except ProfileNotFound:
        name = profile or os.environ.get("AWS_PROFILE") or os.environ.get("AWS_DEFAULT_PROFILE")
        raise SetupError(f"unknown AWS profile {name!r} (not in the AWS config or credentials file)") from None
    except BotoCoreError as error:
        raise SetupError(f"cannot load AWS credentials: {error}") from None
    if not chosen_region:
        raise SetupError(NO_REGION)
    if credentials is None:
        raise SetupError(NO_CREDENTIALS)
    config = Config(retries={"mode": "standard", "total_max_attempts": max_attempts}, user_agent_extra=USER_AGENT)

    def client(service: str, chosen: Config = config) -> Any:
        return session.client(service, region_name=chosen_region, endpoint_url=endpoint_url or None, config=chosen)

    return Clients(
        autoscaling=client("autoscaling"),
        ec2=client("ec2"),
        ssm=client("ssm"),
        sns=client("sns"),
        probe=client("autoscaling", PROBE_CONFIG),
        ssm_once=client(
            "ssm", Config(retries={"mode": "standard", "total_max_attempts": 1}, user_agent_extra=USER_AGENT)
        ),
        elbv2=client("elbv2"),
        elb=client("elb"),
        s3=client("s3"),
        sts=client("sts"),
    )
