"""Auto Scaling groups as the engine sees them: batched DescribeAutoScalingGroups, parsed into GroupView.

A group may name its launch templates by name only; those names are resolved to ids in one batched
DescribeLaunchTemplates, because the engine (and the state tag) always speaks template ids.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from asgpatch.aws.api import Api, chunks
from asgpatch.aws.permissions import reads
from asgpatch.cloud import CloudError
from asgpatch.model import Capacity, GroupView, InstanceView, TemplateRef, TemplateSpec

reads(__name__, "autoscaling:DescribeAutoScalingGroups", "ec2:DescribeLaunchTemplates")

GROUPS_PER_CALL = 100  # DescribeAutoScalingGroups: up to 100 names when MaxRecords is 100
TEMPLATES_PER_CALL = 100

Raw = dict[str, Any]


def describe_named(api: Api, names: Iterable[str]) -> dict[str, Raw]:
    """The named groups that exist, by name: one call per 100 names."""
    found: dict[str, Raw] = {}
    for chunk in chunks(names, GROUPS_PER_CALL):
        fn = api.autoscaling.describe_auto_scaling_groups
        for raw in api.items(fn, "AutoScalingGroups", AutoScalingGroupNames=chunk, MaxRecords=GROUPS_PER_CALL):
            found[raw["AutoScalingGroupName"]] = raw
    return found


def describe_tagged(api: Api, tag_key: str, tag_value: str) -> list[Raw]:
    """Every group whose tag `tag_key` is `tag_value`, 100 a page."""
    fn = api.autoscaling.describe_auto_scaling_groups
    wanted = [{"Name": f"tag:{tag_key}", "Values": [tag_value]}]
    return [
        raw
        for raw in api.items(fn, "AutoScalingGroups", Filters=wanted, MaxRecords=100)
        if carries(raw, tag_key, tag_value)
    ]


def template_users(api: Api, template_ids: Iterable[str]) -> tuple[GroupView, ...]:
    """Every group in the region that names one of these templates: all groups, 100 a page (a launch
    template is shared property, so whoever names it counts, tagged or not)."""
    wanted = set(template_ids)
    fn = api.autoscaling.describe_auto_scaling_groups
    views = group_views(api, api.items(fn, "AutoScalingGroups", MaxRecords=100))
    return tuple(
        view for view in views
        if view.template is not None and any(spec.template_id in wanted for spec in view.template.specs)
    )  # fmt: skip


def describe_with_tag_key(api: Api, tag_key: str) -> list[Raw]:
    """Every group carrying the tag `tag_key`, whatever its value (groups a run left in flight)."""
    fn = api.autoscaling.describe_auto_scaling_groups
    wanted = [{"Name": "tag-key", "Values": [tag_key]}]
    return [
        raw for raw in api.items(fn, "AutoScalingGroups", Filters=wanted, MaxRecords=100) if tag_key in tags_of(raw)
    ]


def tags_of(raw: Raw) -> dict[str, str]:
    return {str(t["Key"]): str(t.get("Value", "")) for t in raw.get("Tags") or []}


def carries(raw: Raw, tag_key: str, tag_value: str) -> bool:
    return tags_of(raw).get(tag_key) == tag_value


# --- launch templates named by name --------------------------------------------------------------


def raw_specs(raw: Raw) -> list[Raw]:
    """The launch-template specifications a group names: its own, or its policy's main and overrides."""
    if raw.get("LaunchTemplate"):
        return [raw["LaunchTemplate"]]
    template = (raw.get("MixedInstancesPolicy") or {}).get("LaunchTemplate") or {}
    specs = [template.get("LaunchTemplateSpecification") or {}]
    specs += [
        o["LaunchTemplateSpecification"]
        for o in template.get("Overrides") or []
        if o.get("LaunchTemplateSpecification")
    ]
    return [s for s in specs if s]


def unresolved_names(raws: Iterable[Raw]) -> set[str]:
    return {
        str(spec["LaunchTemplateName"])
        for raw in raws
        for spec in raw_specs(raw)
        if not spec.get("LaunchTemplateId") and spec.get("LaunchTemplateName")
    }


def resolve_names(api: Api, names: Iterable[str]) -> dict[str, str]:
    """Template name -> id. One call per 100 names; a batch naming a missing template is retried one by
    one, so one deleted template does not hide the others."""
    resolved: dict[str, str] = {}
    for chunk in chunks(sorted(names), TEMPLATES_PER_CALL):
        try:
            resolved.update(_ids_by_name(api, chunk))
        except CloudError as error:
            if "NotFound" not in error.code:
                raise
            for name in chunk:
                try:
                    resolved.update(_ids_by_name(api, [name]))
                except CloudError as single:
                    if "NotFound" not in single.code:
                        raise
    return resolved


def _ids_by_name(api: Api, names: Sequence[str]) -> dict[str, str]:
    fn = api.ec2.describe_launch_templates
    return {
        t["LaunchTemplateName"]: t["LaunchTemplateId"]
        for t in api.items(fn, "LaunchTemplates", LaunchTemplateNames=names)
    }


# --- parsing -------------------------------------------------------------------------------------


def spec_of(raw_spec: Raw, ids: Mapping[str, str]) -> TemplateSpec:
    """A missing Version means $Default; a name that resolves to nothing is kept as the id, so the
    engine finds no such template and says so."""
    name = str(raw_spec.get("LaunchTemplateName") or "")
    template_id = str(raw_spec.get("LaunchTemplateId") or ids.get(name) or name)
    return TemplateSpec(template_id=template_id, version=str(raw_spec.get("Version") or "$Default"))


def template_ref(raw: Raw, ids: Mapping[str, str]) -> TemplateRef | None:
    if raw.get("LaunchTemplate"):
        return TemplateRef(main=spec_of(raw["LaunchTemplate"], ids))
    policy = raw.get("MixedInstancesPolicy")
    if not policy:
        return None
    specs = [spec_of(s, ids) for s in raw_specs(raw)]
    if not specs:
        return None
    main = specs[0]
    overrides = tuple(dict.fromkeys(spec for spec in specs[1:] if spec != main))
    return TemplateRef(main=main, mixed_policy=True, overrides=overrides)


def group_view(raw: Raw, ids: Mapping[str, str]) -> GroupView:
    return GroupView(
        name=str(raw["AutoScalingGroupName"]),
        capacity=Capacity(int(raw["MinSize"]), int(raw["MaxSize"]), int(raw["DesiredCapacity"])),
        tags=tags_of(raw),
        suspended=frozenset(str(p["ProcessName"]) for p in raw.get("SuspendedProcesses") or []),
        instances=tuple(
            InstanceView(
                instance_id=str(i["InstanceId"]),
                lifecycle=str(i.get("LifecycleState", "")),
                protected=bool(i.get("ProtectedFromScaleIn", False)),
            )
            for i in raw.get("Instances") or []
        ),
        template=template_ref(raw, ids),
        launch_configuration=raw.get("LaunchConfigurationName") or None,
        target_groups=tuple(str(arn) for arn in raw.get("TargetGroupARNs") or []),
        load_balancers=tuple(str(name) for name in raw.get("LoadBalancerNames") or []),
        warm_pool=bool(raw.get("WarmPoolConfiguration")),
    )


def group_views(api: Api, raws: Iterable[Raw]) -> list[GroupView]:
    """GroupViews for raw groups, resolving every name-only template reference in one batch."""
    raws = list(raws)
    names = unresolved_names(raws)
    ids = resolve_names(api, names) if names else {}
    return [group_view(raw, ids) for raw in raws]
