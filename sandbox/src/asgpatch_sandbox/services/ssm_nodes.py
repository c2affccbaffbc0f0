"""SSM managed nodes as AWS behaves and moto does not.

A running EC2 instance with an instance profile registers with SSM (PingStatus `Online`)
`ssm_seconds` after it became running; without a profile, or in a group tagged `sandbox:ssm=offline`,
it never does. A stopped node shows `ConnectionLost`; a terminated one is gone.
DescribeInstanceInformation lists them with AWS's filters and pages.
"""

from __future__ import annotations

from typing import Any

from moto.core.responses import ActionResult
from moto.ec2.models import EC2Backend
from moto.ec2.models.instances import Instance as Ec2Instance

from asgpatch_sandbox.override import original
from asgpatch_sandbox.services.ssm_common import check_max, page, paged, ssm_error, utc
from asgpatch_sandbox.world import RUNNING_SINCE, World, current, group_failure, instance_group

AGENT_VERSION = "3.3.1957.0"
PING_INTERVAL = 300.0  # the agent's heartbeat
PLATFORM = "Linux"
# Kept on moto's EC2 instance objects (they vanish with them on reset): the last ping of a stopped node.
LAST_PING = "sandbox_ssm_last_ping"
GONE_STATES = ("shutting-down", "terminated")
PING_STATUSES = ("Online", "ConnectionLost", "Inactive")


def instance_profile(ec2_backend: Any, instance: Any) -> str | None:
    """The instance profile the SSM agent gets its credentials from, if the instance has one."""
    name = getattr(instance, "sandbox_instance_profile", None)
    if name:
        return str(name)
    profile = getattr(instance, "iam_instance_profile", None)
    if isinstance(profile, dict) and (profile.get("Arn") or profile.get("Name")):
        return str(profile.get("Name") or profile["Arn"]).rsplit("/", 1)[-1]
    if isinstance(profile, str) and profile:
        return profile
    association = ec2_backend.iam_instance_profile_associations.get(instance.id)
    if association is not None:
        return str(association.iam_instance_profile.name)
    return None


def running_since(instance: Any, now: float) -> float | None:
    """Since when the instance is running; stamped at launch, start, or first sight."""
    if instance.state != "running":
        return None
    since = getattr(instance, RUNNING_SINCE, None)
    if since is None:
        since = now
        setattr(instance, RUNNING_SINCE, since)
    return float(since)


def online_since(world: World, ec2_backend: Any, instance: Any, now: float) -> float | None:
    """When the instance's agent registered, if it is Online now."""
    since = running_since(instance, now)
    if since is None or not instance_profile(ec2_backend, instance):
        return None
    if group_failure(instance_group(instance), "ssm") == "offline":
        return None
    registered = since + world.timings.ssm_seconds
    return registered if registered <= now else None


def last_ping(registered: float, now: float) -> float:
    beats = int((now - registered) // PING_INTERVAL)
    return registered + beats * PING_INTERVAL


def ping_status(world: World, ec2_backend: Any, instance: Any, now: float) -> tuple[str, float] | None:
    """(PingStatus, LastPingDateTime) of a managed node, None when SSM does not list the instance."""
    if instance.state in GONE_STATES:
        return None
    registered = online_since(world, ec2_backend, instance, now)
    if registered is not None:
        return "Online", last_ping(registered, now)
    lost = getattr(instance, LAST_PING, None)
    return ("ConnectionLost", float(lost)) if lost is not None else None


def instance_tags(ec2_backend: Any, instance_id: str) -> dict[str, str]:
    return dict(ec2_backend.tags.get(instance_id, {}))


def instance_information(instance: Any, status: str, pinged: float) -> dict[str, Any]:
    return {
        "InstanceId": instance.id,
        "PingStatus": status,
        "LastPingDateTime": utc(pinged),
        "AgentVersion": AGENT_VERSION,
        "IsLatestVersion": True,
        "PlatformType": PLATFORM,
        "PlatformName": "Amazon Linux",
        "PlatformVersion": "2023",
        "ResourceType": "EC2Instance",
        "IPAddress": instance.private_ip or "",
        "ComputerName": instance.private_dns_name,
        "AssociationStatus": "Success",
        "SourceId": instance.id,
        "SourceType": "AWS::EC2::Instance",
    }


def managed_nodes(world: World, ec2_backend: Any, now: float) -> list[tuple[Any, str, float]]:
    """Every instance SSM lists in a region, with its ping status, in launch order."""
    nodes = []
    for instance in ec2_backend.all_instances():
        status = ping_status(world, ec2_backend, instance, now)
        if status is not None:
            nodes.append((instance, status[0], status[1]))
    return nodes


def online_instance(world: World, ec2_backend: Any, instance_id: str, now: float) -> Any:
    instance = ec2_backend.get_instance_by_id(instance_id)
    if instance is None or online_since(world, ec2_backend, instance, now) is None:
        return None
    return instance


# --- keeping "running since" exact ---------------------------------------------------------------


def run_instances(self: Any, *args: Any, **kwargs: Any) -> Any:
    """moto's RunInstances, stamping when each instance became running."""
    reservation = original(EC2Backend, "run_instances")(self, *args, **kwargs)
    now = current().clock.now()
    for instance in reservation.instances:
        if instance.state == "running":
            setattr(instance, RUNNING_SINCE, now)
    return reservation


def start_instance(self: Any) -> Any:
    previous = original(Ec2Instance, "start")(self)
    setattr(self, RUNNING_SINCE, current().clock.now())
    return previous


def stop_instance(self: Any) -> Any:
    """A stopping node's agent falls silent: remember its last ping, so it shows ConnectionLost."""
    world = current()
    status = ping_status(world, self.ec2_backend, self, world.clock.now())
    if status is not None:
        setattr(self, LAST_PING, status[1])
    previous = original(Ec2Instance, "stop")(self)
    setattr(self, RUNNING_SINCE, None)
    return previous


# --- DescribeInstanceInformation ----------------------------------------------------------------


INFORMATION_FILTER_KEYS = {
    "InstanceIds",
    "AgentVersion",
    "PingStatus",
    "PlatformTypes",
    "ActivationIds",
    "IamRole",
    "ResourceType",
    "AssociationStatus",
    "SourceIds",
    "SourceTypes",
}


def _information_filters(self: Any) -> list[tuple[str, list[str]]]:
    legacy = self._get_param("InstanceInformationFilterList") or []
    filters = self._get_param("Filters") or []
    if legacy and filters:
        raise ssm_error("ValidationException", "InstanceInformationFilterList and Filters can't be used together.")
    pairs = [(str(f.get("key")), list(f.get("valueSet") or [])) for f in legacy]
    pairs += [(str(f.get("Key")), list(f.get("Values") or [])) for f in filters]
    for key, values in pairs:
        tag_key = key.startswith("tag:") or key == "tag-key"
        if key not in INFORMATION_FILTER_KEYS and not (tag_key and filters):
            raise ssm_error("InvalidFilterKey", f"The filter key {key} isn't valid.")
        if key == "PingStatus" and not set(values) <= set(PING_STATUSES):
            raise ssm_error("InvalidInstanceInformationFilterValue", f"The filter values {values} aren't valid.")
    return pairs


def _information_value(info: dict[str, Any], tags: dict[str, str], key: str) -> list[str]:
    if key.startswith("tag:"):
        name = key[4:]
        return [tags[name]] if name in tags else []
    fields = {
        "InstanceIds": "InstanceId",
        "PlatformTypes": "PlatformType",
        "SourceIds": "SourceId",
        "SourceTypes": "SourceType",
    }
    if key == "tag-key":
        return list(tags)
    value = info.get(fields.get(key, key))
    return [str(value)] if value is not None else []


def describe_instance_information(self: Any) -> ActionResult:
    world = current()
    max_results = self._get_int_param("MaxResults")
    check_max("maxResults", max_results, 50)
    filters = _information_filters(self)
    ec2_backend = world.ec2(self.region)
    rows = []
    for instance, status, pinged in managed_nodes(world, ec2_backend, world.clock.now()):
        tags = instance_tags(ec2_backend, instance.id)
        info = instance_information(instance, status, pinged)
        if all(set(_information_value(info, tags, key)) & set(values) for key, values in filters):
            rows.append(info)
    items, token = page(rows, self._get_param("NextToken"), max_results or 10, "instance-information")
    return paged("InstanceInformationList", items, token)
