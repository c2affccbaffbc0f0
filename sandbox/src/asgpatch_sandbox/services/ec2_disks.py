"""EC2 instance disks and snapshots as AWS behaves and moto does not.

- Instances get the disks of their image (the root from the image's snapshot); launch-template
  mappings for the same device override them, as on AWS. moto gave every instance an extra 8 GiB
  /dev/sda1 instead.
- A snapshot an image still uses cannot be deleted (InvalidSnapshot.InUse).
- A snapshot's progress follows its state (moto always said 100%).
"""

from __future__ import annotations

from typing import Any

from moto.ec2.exceptions import InvalidSnapshotInUse
from moto.ec2.models import elastic_block_store as ebs_models
from moto.ec2.models import instances as instance_models

from asgpatch_sandbox.override import original
from asgpatch_sandbox.services.ec2_images import images_using


def delete_snapshot(self: Any, snapshot_id: str) -> Any:
    users = images_using(self, snapshot_id)
    if users:
        raise InvalidSnapshotInUse(snapshot_id, users[0])
    return original(ebs_models.EBSBackend, "delete_snapshot")(self, snapshot_id)


def snapshot_progress(self: Any) -> str:
    return "100%" if self.status == "completed" else "0%"


# --- instances get their image's disks -----------------------------------------------------------


def setup_defaults(self: Any) -> None:
    ami = self.ec2_backend.amis.get(self.image_id)
    mappings = getattr(ami, "sandbox_mappings", None)
    if not mappings:
        original(instance_models.Instance, "setup_defaults")(self)
        return
    for mapping in mappings:
        ebs = mapping.get("Ebs")
        if ebs is None:
            continue
        volume = self.ec2_backend.create_volume(
            size=ebs.get("VolumeSize"),
            zone_name=self._placement.zone,
            snapshot_id=ebs.get("SnapshotId"),
            encrypted=bool(ebs.get("Encrypted")),
            volume_type=ebs.get("VolumeType"),
            iops=ebs.get("Iops"),
            throughput=ebs.get("Throughput"),
        )
        self.ec2_backend.attach_volume(volume.id, self.id, mapping["DeviceName"], ebs.get("DeleteOnTermination", True))


def add_block_device(
    self: Any,
    size: int | None,
    device_path: str,
    snapshot_id: str | None,
    encrypted: bool,
    delete_on_termination: bool,
    kms_key_id: str | None,
    volume_type: str | None = None,
) -> None:
    """A launch mapping for a device the image already provides replaces that disk, keeping what
    the mapping leaves out (snapshot, size, type) from the image."""
    attached = self.block_device_mapping.get(device_path)
    if attached is not None:
        old = self.ec2_backend.get_volume(attached.volume_id)
        snapshot_id = snapshot_id or old.snapshot_id
        size = size or old.size
        volume_type = volume_type or old.volume_type
        encrypted = bool(encrypted or old.encrypted)
        delete_on_termination = bool(delete_on_termination or attached.delete_on_termination)
        self.ec2_backend.detach_volume(old.id, self.id, device_path)
        self.ec2_backend.delete_volume(old.id)
    original(instance_models.Instance, "add_block_device")(
        self, size, device_path, snapshot_id, encrypted, delete_on_termination, kms_key_id, volume_type=volume_type
    )
