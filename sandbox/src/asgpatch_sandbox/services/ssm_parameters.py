"""`resolve:ssm:` image aliases in launch templates, resolved as EC2 resolves them.

A launch template's ImageId may name an SSM parameter instead of an AMI —
`resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64` (AWS's own), or a
parameter of the account, optionally `:version` or `:label`. EC2 reads the parameter at launch, so the
instance runs whatever AMI it names then; DescribeLaunchTemplateVersions shows the alias, or the AMI
with ResolveAlias. moto stores the alias and fails the launch.

AWS's public parameters come from moto's copies, whose AMI ids do not exist on the sandbox (it has no
AMI catalogue): the first time one is resolved, the sandbox registers that AMI as Amazon's public image,
so launching from AWS's alias works as it does on AWS.
"""

from __future__ import annotations

from typing import Any

from asgpatch_sandbox.services.ec2_images import SYNTHETIC_ROOT, new_ami, snapshot_volume
from asgpatch_sandbox.world import World

ALIAS_PREFIX = "resolve:ssm:"
PUBLIC_PREFIX = "/aws/service/"
AMAZON_OWNER_ID = "137112412989"  # the account Amazon Linux images come from


class UnresolvableAlias(Exception):
    """The parameter an alias names does not exist (or does not hold an AMI id)."""


def is_alias(image_id: str | None) -> bool:
    return bool(image_id) and str(image_id).startswith(ALIAS_PREFIX)


def resolve(world: World, region: str, image_id: str) -> str:
    """The AMI an ImageId stands for now: itself, or what the parameter it names holds."""
    if not is_alias(image_id):
        return image_id
    reference = image_id[len(ALIAS_PREFIX) :]
    name, _, selector = reference.partition(":") if not reference.startswith("arn:") else (reference, "", "")
    try:
        parameter = world.ssm(region).get_parameter(f"{name}:{selector}" if selector else name)
    except Exception as error:  # moto's ParameterNotFound, ParameterVersionNotFound...
        raise UnresolvableAlias(f"the SSM parameter {reference} could not be resolved: {error}") from None
    value = str(getattr(parameter, "value", "") or "")
    if not value.startswith("ami-"):
        raise UnresolvableAlias(f"the SSM parameter {reference} does not hold an AMI id ({value[:40]!r})")
    ec2 = world.ec2(region)
    if value not in ec2.amis and name.startswith(PUBLIC_PREFIX):
        _register_public_image(ec2, value, name.rsplit("/", 1)[-1])
    return value


def _register_public_image(ec2: Any, ami_id: str, name: str) -> None:
    """AWS's image behind one of its public parameters, as Amazon's public AMI."""
    architecture = "arm64" if "arm64" in name else "x86_64"
    ami = new_ami(
        ec2,
        ami_id,
        name=name,
        description=f"Amazon Linux image behind {PUBLIC_PREFIX}...{name} (sandbox)",
        architecture=architecture,
        virtualization_type="hvm",
        root_device_name="/dev/xvda",
        owner_id=AMAZON_OWNER_ID,
        owner_alias="amazon",
        public=True,
    )
    volume = ec2.create_volume(size=SYNTHETIC_ROOT["VolumeSize"], zone_name=ec2.region_name + "a")
    snapshot = snapshot_volume(ec2, volume.id, f"Amazon Linux root for {ami_id}", ami_id, {})
    ec2.delete_volume(volume.id)
    ami.sandbox_mappings = [
        {"DeviceName": "/dev/xvda", "Ebs": {**SYNTHETIC_ROOT, "SnapshotId": snapshot.id, "Encrypted": False}}
    ]
    ec2.amis[ami_id] = ami


def resolved_data(world: World, region: str, data: dict[str, Any]) -> dict[str, Any]:
    """A version's LaunchTemplateData with its ImageId resolved (DescribeLaunchTemplateVersions with
    ResolveAlias); an alias that cannot be resolved is shown as it is."""
    image_id = data.get("ImageId")
    if not is_alias(image_id):
        return data
    try:
        return {**data, "ImageId": resolve(world, region, str(image_id))}
    except UnresolvableAlias:
        return data
