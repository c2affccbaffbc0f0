"""The image of every job that has one (by id), or that is IMAGING without one (by its natural-key name).

Ids go in an `image-id` filter, not ImageIds: ImageIds fails the whole call when one image is gone
(InvalidAMIID.NotFound), and a tick reads many at once. An image not found is simply absent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from asgpatch import naming
from asgpatch.aws.api import Api, chunks
from asgpatch.aws.permissions import reads
from asgpatch.model import ImageView, Job, Outcome, Phase

reads(__name__, "ec2:DescribeImages")

PER_CALL = 100  # values in one filter


def image_view(raw: dict[str, Any]) -> ImageView:
    reason = (raw.get("StateReason") or {}).get("Message") or ""
    return ImageView(
        image_id=str(raw["ImageId"]),
        state=str(raw.get("State", "")),
        reason=str(reason),
        created=_epoch(raw.get("CreationDate")),
    )


def _epoch(text: object) -> float | None:
    """EC2 answers CreationDate as ISO 8601 text, e.g. 2026-11-27T06:00:00.000Z."""
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def images_by_id(api: Api, image_ids: Iterable[str]) -> dict[str, ImageView]:
    found: dict[str, ImageView] = {}
    for chunk in chunks(image_ids, PER_CALL):
        for raw in api.items(api.ec2.describe_images, "Images", Filters=[{"Name": "image-id", "Values": chunk}]):
            found[raw["ImageId"]] = image_view(raw)
    return found


def images_by_name(api: Api, owners: Mapping[str, tuple[str, str]]) -> dict[str, ImageView]:
    """Our own images with these names (AMI names are unique per account and region) that are provably
    the image a run made for a group: name -> (group, run) must match their asgpatch:group and
    asgpatch:run tags. An image that only shares the name is not taken for ours."""
    found: dict[str, ImageView] = {}
    for chunk in chunks(owners, PER_CALL):
        wanted = [{"Name": "name", "Values": chunk}]
        for raw in api.items(api.ec2.describe_images, "Images", Owners=["self"], Filters=wanted):
            tags = {t.get("Key"): t.get("Value") for t in raw.get("Tags") or []}
            group, run = owners.get(raw["Name"], ("", ""))
            if (tags.get(naming.IMAGE_GROUP_TAG), tags.get(naming.IMAGE_RUN_TAG)) == (group, run):
                found[raw["Name"]] = image_view(raw)
    return found


def _may_have_image(job: Job) -> bool:
    """IMAGING after a restart, or restoring without a patch: a crashed run may have made an image
    whose id it never wrote down; its name finds it (to wait for it, or to clean it up)."""
    unused = job.phase is Phase.RESTORING and job.outcome is not Outcome.PATCHED and job.new_version is None
    return job.phase is Phase.IMAGING or unused


def observe_images(api: Api, jobs: Iterable[Job]) -> dict[str, ImageView]:
    """Group -> image: by id where the job has one, by name for IMAGING jobs that lost it."""
    jobs = list(jobs)
    by_id = images_by_id(api, [j.image_id for j in jobs if j.image_id])
    lost = {naming.image_name(j.group, j.run_id): j for j in jobs if not j.image_id and _may_have_image(j)}
    by_name = images_by_name(api, {name: (job.group, job.run_id) for name, job in lost.items()}) if lost else {}
    found = {j.group: by_id[j.image_id] for j in jobs if j.image_id and j.image_id in by_id}
    found.update({job.group: by_name[name] for name, job in lost.items() if name in by_name})
    return found
