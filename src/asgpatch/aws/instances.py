"""EC2 state, launch time and SSM ping for the instances a tick cares about, many at a time.

Both reads use filters rather than id lists: DescribeInstances(InstanceIds=[...]) and
DescribeInstanceInformation fail the whole call for one id that is gone or malformed, and a patch
instance can vanish at any moment. An instance not described simply keeps None.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from asgpatch.aws.api import Api, chunks
from asgpatch.aws.permissions import reads
from asgpatch.cloud import CloudError

reads(__name__, "ec2:DescribeInstances", "ssm:DescribeInstanceInformation")

EC2_PER_CALL = 100  # values in one instance-id filter
SSM_PER_CALL = 50  # DescribeInstanceInformation answers at most 50 a page


@dataclass(frozen=True)
class Ec2Facts:
    state: str
    launch_time: float | None
    image_id: str | None = None


def ec2_facts(api: Api, instance_ids: Iterable[str]) -> dict[str, Ec2Facts]:
    facts: dict[str, Ec2Facts] = {}
    for chunk in chunks(instance_ids, EC2_PER_CALL):
        wanted = [{"Name": "instance-id", "Values": chunk}]
        for reservation in api.items(api.ec2.describe_instances, "Reservations", Filters=wanted, MaxResults=1000):
            for instance in reservation.get("Instances") or []:
                launched = instance.get("LaunchTime")
                facts[instance["InstanceId"]] = Ec2Facts(
                    state=str((instance.get("State") or {}).get("Name", "")),
                    launch_time=launched.timestamp() if launched is not None else None,
                    image_id=instance.get("ImageId"),
                )
    return facts


def ssm_pings(api: Api, instance_ids: Iterable[str]) -> dict[str, str]:
    """PingStatus of the managed nodes among `instance_ids` (absent: not registered)."""
    pings: dict[str, str] = {}
    for chunk in chunks(instance_ids, SSM_PER_CALL):
        try:
            pings.update(_pings(api, chunk))
        except CloudError as error:
            if error.code != "InvalidInstanceId":
                raise
            for instance_id in chunk:  # one bad id spoils the batch: find the good ones
                try:
                    pings.update(_pings(api, [instance_id]))
                except CloudError as single:
                    if single.code != "InvalidInstanceId":
                        raise
    return pings


def _pings(api: Api, ids: list[str]) -> dict[str, str]:
    wanted = [{"Key": "InstanceIds", "Values": ids}]
    fn = api.ssm.describe_instance_information
    return {
        str(info["InstanceId"]): str(info.get("PingStatus", ""))
        for info in api.items(fn, "InstanceInformationList", Filters=wanted, MaxResults=SSM_PER_CALL)
    }
