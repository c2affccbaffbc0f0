"""RegisterImage as AWS behaves and moto does not.

It honours the root device, mappings, architecture, virtualization type, boot mode and ENA support.
Without a root snapshot the sandbox makes one: a base image needs some disk to launch from.
"""

from __future__ import annotations

from typing import Any

from moto.core.responses import ActionResult
from moto.ec2.exceptions import InvalidParameterValue
from moto.ec2.utils import random_ami_id

from asgpatch_sandbox.services.ec2_images import (
    SYNTHETIC_ROOT,
    check_description,
    check_name,
    new_ami,
    root_first,
    snapshot_volume,
    split_tags,
)


def _registered_mapping(backend: Any, mapping: dict[str, Any], root: str, ami_id: str) -> dict[str, Any]:
    """A RegisterImage mapping with AWS's defaults; a root without snapshot gets a synthetic one."""
    device = mapping["DeviceName"]
    if "Ebs" not in mapping:
        return {k: v for k, v in mapping.items() if k in ("DeviceName", "VirtualName", "NoDevice")}
    ebs = {k: v for k, v in mapping["Ebs"].items() if v is not None}
    ebs.setdefault("DeleteOnTermination", True)
    snapshot_id = ebs.get("SnapshotId")
    if snapshot_id:
        snapshot = backend.get_snapshot(snapshot_id)  # InvalidSnapshot.NotFound
        ebs.setdefault("VolumeSize", snapshot.volume_size)
        ebs["Encrypted"] = bool(snapshot.encrypted)
    elif device == root:
        ebs.setdefault("VolumeSize", SYNTHETIC_ROOT["VolumeSize"])
        ebs["SnapshotId"] = _synthetic_snapshot(backend, ebs, ami_id).id
    ebs.setdefault("VolumeType", "gp2")
    ebs.setdefault("Encrypted", False)
    return {"DeviceName": device, "Ebs": ebs}


def _synthetic_snapshot(backend: Any, ebs: dict[str, Any], ami_id: str) -> Any:
    volume = backend.create_volume(
        size=ebs["VolumeSize"],
        zone_name=backend.region_name + "a",
        encrypted=bool(ebs.get("Encrypted")),
        volume_type=ebs.get("VolumeType"),
    )
    snapshot = snapshot_volume(backend, volume.id, f"Auto-created snapshot for AMI {ami_id}", ami_id, {})
    backend.delete_volume(volume.id)
    return snapshot


def register_image(backend: Any, params: dict[str, Any]) -> Any:
    name = check_name(backend, params.get("Name"))
    check_description(params.get("Description"))
    tags = split_tags(params.get("TagSpecifications") or [], ("image",))
    root = params.get("RootDeviceName") or "/dev/sda1"
    given = list(params.get("BlockDeviceMappings") or [])
    if not any(m.get("DeviceName") == root for m in given):
        given.insert(0, {"DeviceName": root, "Ebs": dict(SYNTHETIC_ROOT)})
    ami_id = random_ami_id()
    ami = new_ami(
        backend,
        ami_id,
        name=name,
        description=params.get("Description") or "",
        architecture=params.get("Architecture") or "i386",
        virtualization_type=params.get("VirtualizationType") or "paravirtual",
        root_device_name=root,
        boot_mode=params.get("BootMode"),
    )
    ami.ena_support = params.get("EnaSupport")
    ami.sriov = params.get("SriovNetSupport")
    mappings = [_registered_mapping(backend, m, root, ami_id) for m in given]
    ami.sandbox_mappings = root_first(mappings, root)
    ami.add_tags(tags.get("image", {}))
    backend.amis[ami_id] = ami
    return ami


def respond_register_image(self: Any) -> ActionResult:
    self.error_on_dryrun()
    params = {
        key: self._get_param(key)
        for key in (
            "Name",
            "Description",
            "Architecture",
            "RootDeviceName",
            "BlockDeviceMappings",
            "VirtualizationType",
            "BootMode",
            "EnaSupport",
            "SriovNetSupport",
            "TagSpecifications",
        )
    }
    if params["Architecture"] is not None and params["Architecture"] not in ("i386", "x86_64", "arm64"):
        raise InvalidParameterValue(f"Invalid value '{params['Architecture']}' for architecture.")
    ami = register_image(self.ec2_backend, params)
    return ActionResult({"ImageId": ami.id})
