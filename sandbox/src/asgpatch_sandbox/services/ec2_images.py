"""EC2 images (AMIs) and their snapshots as AWS behaves and moto does not.

- CreateImage checks the instance (exists, running or stopped), the name (AWS's characters, 3-128
  long), the description (at most 255 characters) and that no image of the account and region
  already has that name: the patcher uses the name as an idempotency key, so a retried CreateImage
  must fail with InvalidAMIName.Duplicate.
- A new image is `pending` until `timings.image_seconds` have passed, then `available`; an instance
  whose group is tagged `sandbox:image=fail` yields a `failed` image with a StateReason.
- Its block device mappings are the instance's volumes, each with a new snapshot of that volume
  (pending until the image is done); moto's unrelated 15 GiB snapshot is dropped. Tags can go to
  the image and to the snapshots. The image records the instance's patch level.
- RegisterImage: see ec2_image_registration.py.
- DeregisterImage can delete the image's snapshots (DeleteAssociatedSnapshots); a snapshot another
  image still uses is skipped (and cannot be deleted directly either: see ec2_disks.py).
- DescribeImages: see ec2_image_lookup.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from moto.core.responses import ActionResult
from moto.ec2.exceptions import (
    EC2ClientError,
    InvalidAMIIdError,
    InvalidParameterValue,
    InvalidTaggableResourceType,
    MalformedAMIIdError,
    UnvailableAMIIdError,
)
from moto.ec2.models import amis as ami_models
from moto.ec2.utils import random_ami_id

from asgpatch_sandbox.override import original
from asgpatch_sandbox.services.os_patch_catalog import instance_level, set_image_level
from asgpatch_sandbox.world import World, current, group_failure, instance_group

# CreateImage/RegisterImage Name constraints (EC2 API reference).
AMI_NAME = re.compile(r"[A-Za-z0-9()\[\] ./\-'@_]{3,128}")
MALFORMED_NAME_MESSAGE = (
    "AMI names must be between 3 and 128 characters long, and may contain letters, numbers, "
    "'(', ')', '.', '-', '/' and '_'"
)
DESCRIPTION_LIMIT = 255
IMAGEABLE_STATES = ("running", "stopped")
IMAGE_TAG_TYPES = ("image", "snapshot")
FAILED_REASON = {
    "Code": "Server.InternalError",
    "Message": "Internal error: the sandbox was asked to fail images for this group (tag sandbox:image=fail).",
}
SYNTHETIC_ROOT = {"VolumeSize": 8, "VolumeType": "gp2", "DeleteOnTermination": True}


@dataclass
class PendingImage:
    image_id: str
    ready_at: float
    fails: bool


@dataclass
class ImagesWorld:
    """Images still being created, per region, so each advance costs O(pending images)."""

    world: World
    pending: dict[str, dict[str, PendingImage]] = field(default_factory=dict)

    def track(self, region: str, image: PendingImage) -> None:
        self.pending.setdefault(region, {})[image.image_id] = image

    def forget(self, region: str, image_id: str) -> None:
        self.pending.get(region, {}).pop(image_id, None)

    def advance(self, region: str, now: float) -> None:
        waiting = self.pending.get(region)
        if not waiting:
            return
        due = [image for image in waiting.values() if image.ready_at <= now]
        if not due:
            return
        backend = self.world.ec2(region)
        for image in due:
            del waiting[image.image_id]
            ami = backend.amis.get(image.image_id)
            if ami is not None:
                _finish(backend, ami, image.fails)


def _finish(backend: Any, ami: Any, fails: bool) -> None:
    ami.state = "failed" if fails else "available"
    if fails:
        ami.state_reason = dict(FAILED_REASON)
    for snapshot_id in image_snapshot_ids(ami):
        snapshot = backend.snapshots.get(snapshot_id)
        if snapshot is not None:
            snapshot.status = "error" if fails else "completed"


# --- mappings ------------------------------------------------------------------------------------


def image_snapshot_ids(ami: Any) -> list[str]:
    mappings = getattr(ami, "sandbox_mappings", None) or []
    return [m["Ebs"]["SnapshotId"] for m in mappings if (m.get("Ebs") or {}).get("SnapshotId")]


def block_device_mappings(self: Any) -> list[dict[str, Any]]:
    mappings = getattr(self, "sandbox_mappings", None)
    if mappings is None:
        return list(original(ami_models.Ami, "block_device_mappings").fget(self))
    return mappings


def _ebs_of_volume(volume: Any, delete_on_termination: bool, snapshot_id: str | None) -> dict[str, Any]:
    ebs: dict[str, Any] = {
        "DeleteOnTermination": bool(delete_on_termination),
        "VolumeSize": volume.size,
        "VolumeType": volume.volume_type,
        "Encrypted": bool(volume.encrypted),
    }
    if snapshot_id:
        ebs["SnapshotId"] = snapshot_id
    if volume.iops:
        ebs["Iops"] = volume.iops
    if volume.throughput:
        ebs["Throughput"] = volume.throughput
    return ebs


def root_first(mappings: list[dict[str, Any]], root: str) -> list[dict[str, Any]]:
    return sorted(mappings, key=lambda m: (m["DeviceName"] != root, m["DeviceName"]))


# --- validation ----------------------------------------------------------------------------------


def check_description(description: str | None) -> str:
    """AMI descriptions hold at most 255 characters (CreateImage / RegisterImage reference)."""
    text = description or ""
    if len(text) > DESCRIPTION_LIMIT:
        raise InvalidParameterValue(
            f"Value ({text[:40]}...) for parameter description is invalid. "
            f"Length exceeds maximum of {DESCRIPTION_LIMIT} characters."
        )
    return text


def check_name(backend: Any, name: str | None) -> str:
    """AWS rejects malformed names and a name another image of the account and region has."""
    if not name or not AMI_NAME.fullmatch(name):
        raise EC2ClientError("InvalidAMIName.Malformed", MALFORMED_NAME_MESSAGE)
    for ami in backend.amis.values():
        if ami.name == name and ami.owner_id == backend.account_id:
            raise EC2ClientError("InvalidAMIName.Duplicate", f"AMI name {name} is already in use by AMI {ami.id}")
    return name


def _imageable_instance(backend: Any, instance_id: str | None) -> Any:
    if not instance_id or not instance_id.startswith("i-"):
        raise EC2ClientError("InvalidInstanceID.Malformed", f'Invalid id: "{instance_id}"')
    instance = backend.get_instance(instance_id)  # InvalidInstanceID.NotFound
    if instance.state not in IMAGEABLE_STATES:
        raise EC2ClientError(
            "IncorrectInstanceState",
            f"The instance '{instance_id}' is not in a state from which it can be imaged "
            f"(it is {instance.state}; expected running or stopped).",
        )
    return instance


def split_tags(specs: Iterable[dict[str, Any]], allowed: tuple[str, ...]) -> dict[str, dict[str, str]]:
    """Tags by resource type; any type the operation cannot tag fails the request, as on AWS."""
    tags: dict[str, dict[str, str]] = {}
    for spec in specs:
        kind = spec.get("ResourceType", "")
        if kind not in allowed:
            raise InvalidTaggableResourceType(kind)
        target = tags.setdefault(kind, {})
        for tag in spec.get("Tags") or []:
            target[tag["Key"]] = tag.get("Value", "")
    return tags


# --- image records -------------------------------------------------------------------------------


def new_ami(backend: Any, ami_id: str, **kwargs: Any) -> Any:
    """An Ami without the unrelated 15 GiB snapshot moto's constructor makes for every image."""
    ami: Any = ami_models.Ami(backend, ami_id, region_name=backend.region_name + "a", **kwargs)
    backend.snapshots.pop(ami.ebs_snapshot.id, None)
    ami.creation_date = current().clock.now_datetime()
    ami.root_device_type = "ebs"
    ami.image_location = f"{ami.owner_id}/{ami.name}"
    ami.hypervisor = "xen"
    ami.platform_details = "Windows" if ami.platform == "windows" else "Linux/UNIX"
    ami.usage_operation = "RunInstances:0002" if ami.platform == "windows" else "RunInstances"
    return ami


def snapshot_volume(backend: Any, volume_id: str, description: str, ami_id: str, tags: dict[str, str]) -> Any:
    snapshot = backend.create_snapshot(volume_id, description, from_ami=ami_id)
    snapshot.start_time = current().clock.now_datetime()
    snapshot.add_tags(tags)
    return snapshot


def _instance_mappings(
    backend: Any, instance: Any, ami_id: str, snapshot_tags: dict[str, str], pending: bool
) -> list[dict[str, Any]]:
    """One mapping per instance volume, each with a fresh snapshot of that volume."""
    description = f"Created by CreateImage({instance.id}) for {ami_id}"
    mappings = []
    for device, attached in instance.get_block_device_mapping:
        volume = backend.get_volume(attached.volume_id)
        snapshot = snapshot_volume(backend, volume.id, description, ami_id, snapshot_tags)
        if pending:
            snapshot.status = "pending"
        ebs = _ebs_of_volume(volume, attached.delete_on_termination, snapshot.id)
        mappings.append({"DeviceName": device, "Ebs": ebs})
    return root_first(mappings, instance.root_device_name)


def _apply_overrides(mappings: list[dict[str, Any]], overrides: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """CreateImage's BlockDeviceMappings: NoDevice drops a device, Ebs settings change one."""
    by_device = {m["DeviceName"]: m for m in mappings}
    for override in overrides:
        device = override.get("DeviceName")
        if device not in by_device:
            continue
        if "NoDevice" in override:
            del by_device[device]
            continue
        for key in ("VolumeSize", "VolumeType", "DeleteOnTermination", "Iops", "Throughput"):
            value = (override.get("Ebs") or {}).get(key)
            if value is not None:
                by_device[device]["Ebs"][key] = value
    return [m for m in mappings if m["DeviceName"] in by_device]


def create_image(
    backend: Any,
    instance_id: str,
    name: str,
    description: str,
    tag_specs: list[dict[str, Any]],
    overrides: list[dict[str, Any]],
) -> Any:
    world = current()
    instance = _imageable_instance(backend, instance_id)
    check_name(backend, name)
    check_description(description)
    tags = split_tags(tag_specs, IMAGE_TAG_TYPES)
    source = backend.amis.get(instance.image_id)
    ami_id = random_ami_id()
    ami = new_ami(
        backend,
        ami_id,
        instance=instance,
        name=name,
        description=description,
        state="pending",
        root_device_name=instance.root_device_name,
        boot_mode=getattr(source, "boot_mode", None),
    )
    ami.ena_support = bool(getattr(source, "ena_support", True))
    mappings = _instance_mappings(backend, instance, ami_id, tags.get("snapshot", {}), pending=True)
    ami.sandbox_mappings = _apply_overrides(mappings, overrides)
    ami.add_tags(tags.get("image", {}))
    set_image_level(ami, instance_level(backend, instance))
    backend.amis[ami_id] = ami
    fails = group_failure(instance_group(instance), "image") == "fail"
    ready_at = world.clock.now() + world.timings.image_seconds
    images_world().track(backend.region_name, PendingImage(ami_id, ready_at, fails))
    return ami


def images_using(backend: Any, snapshot_id: str) -> list[str]:
    return [ami.id for ami in backend.amis.values() if snapshot_id in image_snapshot_ids(ami)]


def deregister_image(backend: Any, image_id: str, delete_snapshots: bool) -> list[dict[str, str]]:
    """Deregister; with delete_snapshots also delete snapshots no other image uses (else skipped)."""
    if not image_id or not image_id.startswith("ami-"):
        raise MalformedAMIIdError([image_id])
    ami = backend.amis.get(image_id)
    if ami is None:
        if image_id in backend.deleted_amis:
            raise UnvailableAMIIdError(image_id)
        raise InvalidAMIIdError(image_id)
    del backend.amis[image_id]
    backend.deleted_amis.append(image_id)
    images_world().forget(backend.region_name, image_id)
    if not delete_snapshots:
        return []
    return [_delete_image_snapshot(backend, snapshot_id) for snapshot_id in image_snapshot_ids(ami)]


def _delete_image_snapshot(backend: Any, snapshot_id: str) -> dict[str, str]:
    if images_using(backend, snapshot_id):
        return {"SnapshotId": snapshot_id, "ReturnCode": "skipped"}
    if backend.snapshots.pop(snapshot_id, None) is None:
        return {"SnapshotId": snapshot_id, "ReturnCode": "client-error"}
    return {"SnapshotId": snapshot_id, "ReturnCode": "success"}


def images_world() -> ImagesWorld:
    return current().part(ImagesWorld)


# --- responses -----------------------------------------------------------------------------------


def respond_create_image(self: Any) -> ActionResult:
    self.error_on_dryrun()
    ami = create_image(
        self.ec2_backend,
        self._get_param("InstanceId"),
        self._get_param("Name"),
        self._get_param("Description", ""),
        self._get_param("TagSpecifications", []) or [],
        self._get_param("BlockDeviceMappings", []) or [],
    )
    return ActionResult({"ImageId": ami.id})


def respond_deregister_image(self: Any) -> ActionResult:
    self.error_on_dryrun()
    delete_snapshots = bool(self._get_bool_param("DeleteAssociatedSnapshots", False))
    results = deregister_image(self.ec2_backend, self._get_param("ImageId"), delete_snapshots)
    answer: dict[str, Any] = {"Return": True}
    if delete_snapshots:
        answer["DeleteSnapshotResults"] = results
    return ActionResult(answer)
