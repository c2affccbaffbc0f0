"""DescribeImages as AWS answers it, at the speed an account with many images needs.

moto scanned every tag of the region for each image and filtered every image for an id lookup; the
sandbox looks ids up directly, lets ImageIds combine with the other filters, and reads each image's
(and snapshot's) own tags.
"""

from __future__ import annotations

from typing import Any

from moto.ec2.exceptions import InvalidAMIIdError, MalformedAMIIdError
from moto.ec2.utils import EC2_PREFIX_TO_RESOURCE, generic_filter, get_prefix

# --- describe ------------------------------------------------------------------------------------


def own_tags(self: Any) -> list[dict[str, str]]:
    """The resource's own tags; moto scanned every tag of the region for each resource."""
    tags = self.ec2_backend.tags.get(self.id) or {}
    kind = EC2_PREFIX_TO_RESOURCE.get(get_prefix(self.id), "")
    return [{"resource_id": self.id, "key": k, "value": v, "resource_type": kind} for k, v in tags.items()]


def _images_by_id(backend: Any, ami_ids: list[str]) -> list[Any]:
    malformed = [ami_id for ami_id in ami_ids if not ami_id.startswith("ami-")]
    if malformed:
        raise MalformedAMIIdError(malformed)
    found = [backend.amis[ami_id] for ami_id in dict.fromkeys(ami_ids) if ami_id in backend.amis]
    if not found and not any(ami_id in backend.deleted_amis for ami_id in ami_ids):
        raise InvalidAMIIdError(ami_ids)
    return found


def _exact_ids(values: Any) -> list[str] | None:
    values = [values] if isinstance(values, str) else list(values or [])
    if any(ch in value for value in values for ch in "*?"):
        return None
    return values


def _candidates(backend: Any, ami_ids: list[str] | None, filters: dict[str, Any]) -> list[Any]:
    if ami_ids:
        return _images_by_id(backend, ami_ids)
    exact = _exact_ids(filters["image-id"]) if "image-id" in filters else None
    if exact is not None:
        del filters["image-id"]
        return [backend.amis[i] for i in dict.fromkeys(exact) if i in backend.amis]
    return list(backend.amis.values())


def _owned_by(backend: Any, images: list[Any], owners: list[str]) -> list[Any]:
    wanted = {backend.account_id if owner == "self" else owner for owner in owners}
    return [ami for ami in images if ami.owner_id in wanted or ami.owner_alias in wanted]


def _executable_by(backend: Any, images: list[Any], users: list[str]) -> list[Any]:
    wanted = {backend.account_id if user == "self" else user for user in users}
    return [ami for ami in images if ami.is_public or any(p.get("UserId") in wanted for p in ami.launch_permissions)]


def describe_images(
    self: Any,
    ami_ids: list[str] | None = None,
    filters: dict[str, Any] | None = None,
    exec_users: list[str] | None = None,
    owners: list[str] | None = None,
) -> list[Any]:
    """moto's DescribeImages, but ids are looked up directly and ImageIds combine with the rest."""
    filters = dict(filters or {})
    images = _candidates(self, ami_ids, filters)
    if exec_users:
        images = _executable_by(self, images, exec_users)
    if owners:
        images = _owned_by(self, images, owners)
    return generic_filter(filters, images) if filters else images
