"""Which groups a run may touch: those whose patch tag has the patch value, nothing else.

Without names: a tag-filtered, paginated DescribeAutoScalingGroups (the filter is re-checked here, so a
looser emulator or a future API change can never widen the set). With names (--asg): those groups only,
each reported as tagged, untagged (present, tag absent or another value) or missing.
"""

from __future__ import annotations

from collections.abc import Sequence

from asgpatch.aws.api import Api
from asgpatch.aws.groups import carries, describe_named, describe_tagged, describe_with_tag_key, group_views
from asgpatch.cloud import Discovery
from asgpatch.model import GroupView
from asgpatch.state import STATE_TAG


def in_flight(api: Api, names: Sequence[str] = ()) -> tuple[GroupView, ...]:
    """Groups carrying asgpatch:state — whatever their patch tag says now (it may have been removed)."""
    raws = describe_with_tag_key(api, STATE_TAG)
    if names:
        raws = [raw for raw in raws if raw["AutoScalingGroupName"] in set(names)]
    return tuple(sorted(group_views(api, raws), key=lambda g: g.name))


def discover(api: Api, tag_key: str, tag_value: str, names: Sequence[str] = ()) -> Discovery:
    if not names:
        views = group_views(api, describe_tagged(api, tag_key, tag_value))
        return Discovery(groups=tuple(sorted(views, key=lambda g: g.name)))
    wanted = list(dict.fromkeys(names))
    found = describe_named(api, wanted)
    present = [found[name] for name in wanted if name in found]
    views = group_views(api, present)
    tagged = [carries(raw, tag_key, tag_value) for raw in present]
    return Discovery(
        groups=tuple(view for view, ok in zip(views, tagged, strict=True) if ok),
        untagged=tuple(view for view, ok in zip(views, tagged, strict=True) if not ok),
        missing=tuple(name for name in wanted if name not in found),
    )
