"""Launch templates for the jobs that need them: default and latest version, the images of the
versions that matter, and the version this run already made (the natural key on a retry).

One DescribeLaunchTemplates per 100 templates, then per template one DescribeLaunchTemplateVersions:
the newest RUN_WINDOW versions when a run's version is looked for (they also answer for recent
numbers), plus the specific older numbers the group and job still name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from asgpatch import naming
from asgpatch.aws.api import Api, chunks
from asgpatch.aws.permissions import reads
from asgpatch.cloud import CloudError
from asgpatch.model import GroupView, Job, Phase, TemplateSpec, TemplateView

reads(__name__, "ec2:DescribeLaunchTemplateVersions")
ALIAS_WHY = "a template whose ImageId is a `resolve:ssm:` alias is read with ResolveAlias, which reads the parameter"
reads(__name__, "ssm:GetParameters", why=ALIAS_WHY + " with the caller's permissions")

TEMPLATE_PHASES = frozenset({Phase.PENDING, Phase.IMAGING, Phase.UPDATING_TEMPLATE})
PER_CALL = 100
RUN_WINDOW = 20  # how many of the newest versions may hold this run's version
PAGE = 200

Raw = dict[str, Any]


ALIAS_PREFIX = "resolve:ssm:"


@dataclass(frozen=True)
class Version:
    number: int
    image_id: str  # the AMI it launches (an alias resolved)
    description: str
    alias: str = ""  # the `resolve:ssm:` alias its ImageId names, if it names one


@dataclass
class Need:
    """What one template is read for."""

    specs: set[str] = field(default_factory=set)  # "$Default", "$Latest" or numbers, as groups name them
    numbers: set[int] = field(default_factory=set)
    search: bool = False  # look among the newest versions for a run's version


def needs_of(jobs: Sequence[Job], views: Mapping[str, GroupView | None]) -> dict[str, Need]:
    needs: dict[str, Need] = {}
    for job in jobs:
        if job.phase not in TEMPLATE_PHASES:
            continue
        view = views.get(job.group)
        specs: list[TemplateSpec] = []
        if view is not None and view.template is not None:
            specs = [view.template.main, *view.template.overrides]
        for spec in specs:
            need = needs.setdefault(spec.template_id, Need())
            need.specs.add(spec.version)
            # Overrides on the same image (another template, or another version of this one) get their
            # own version of this run: look for it.
            need.search |= job.phase is Phase.UPDATING_TEMPLATE
        if job.template_id:
            need = needs.setdefault(job.template_id, Need())
            need.numbers.update(n for n in (job.source_version, job.new_version) if n is not None)
            need.search |= job.phase is Phase.UPDATING_TEMPLATE and job.new_version is None
    return needs


def describe_templates(api: Api, template_ids: Iterable[str]) -> dict[str, Raw]:
    """Template id -> DescribeLaunchTemplates entry; deleted templates are absent."""
    found: dict[str, Raw] = {}
    for chunk in chunks(template_ids, PER_CALL):
        try:
            found.update(_templates(api, chunk))
        except CloudError as error:
            if "NotFound" not in error.code and "Malformed" not in error.code:
                raise
            for template_id in chunk:
                try:
                    found.update(_templates(api, [template_id]))
                except CloudError as single:
                    if "NotFound" not in single.code and "Malformed" not in single.code:
                        raise
    return found


def _templates(api: Api, ids: list[str]) -> dict[str, Raw]:
    fn = api.ec2.describe_launch_templates
    return {t["LaunchTemplateId"]: t for t in api.items(fn, "LaunchTemplates", LaunchTemplateIds=ids)}


def _version(raw: Raw) -> Version:
    return Version(
        number=int(raw["VersionNumber"]),
        image_id=str((raw.get("LaunchTemplateData") or {}).get("ImageId") or ""),
        description=str(raw.get("VersionDescription") or ""),
    )


def describe_versions(api: Api, template_id: str, numbers: Iterable[int], low: int | None) -> dict[int, Version]:
    """The versions `numbers`, plus every version from `low` on when `low` is given; a version whose
    ImageId is a `resolve:ssm:` alias is read once more with ResolveAlias, for the AMI it launches."""
    found = _describe_versions(api, template_id, numbers, low)
    aliased = sorted(n for n, v in found.items() if v.image_id.startswith(ALIAS_PREFIX))
    if aliased:
        fn = api.ec2.describe_launch_template_versions
        params = {"LaunchTemplateId": template_id, "Versions": [str(n) for n in aliased], "ResolveAlias": True}
        for raw in api.items(fn, "LaunchTemplateVersions", **params):
            number = int(raw["VersionNumber"])
            resolved = str((raw.get("LaunchTemplateData") or {}).get("ImageId") or "")
            if number in found and resolved and not resolved.startswith(ALIAS_PREFIX):
                found[number] = replace(found[number], image_id=resolved, alias=found[number].image_id)
    return found


def _describe_versions(api: Api, template_id: str, numbers: Iterable[int], low: int | None) -> dict[int, Version]:
    fn = api.ec2.describe_launch_template_versions
    found: dict[int, Version] = {}
    if low is not None:
        for raw in api.items(
            fn, "LaunchTemplateVersions", LaunchTemplateId=template_id, MinVersion=str(low), MaxResults=PAGE
        ):
            found[int(raw["VersionNumber"])] = _version(raw)
    rest = sorted(n for n in set(numbers) if n not in found and n > 0)
    if not rest:
        return found
    try:
        for raw in api.items(
            fn, "LaunchTemplateVersions", LaunchTemplateId=template_id, Versions=[str(n) for n in rest]
        ):
            found[int(raw["VersionNumber"])] = _version(raw)
    except CloudError as error:
        if "NotFound" not in error.code:
            raise
        for number in rest:  # a deleted version spoils the batch: read the others one by one
            try:
                for raw in api.items(
                    fn, "LaunchTemplateVersions", LaunchTemplateId=template_id, Versions=[str(number)]
                ):
                    found[int(raw["VersionNumber"])] = _version(raw)
            except CloudError as single:
                if "NotFound" not in single.code:
                    raise
    return found


def _resolve(spec: str, default: int, latest: int) -> int | None:
    if spec == "$Default":
        return default
    if spec == "$Latest":
        return latest
    return int(spec) if spec.isdigit() else None


def template_views(
    api: Api, needs: Mapping[str, Need]
) -> tuple[dict[str, TemplateView], dict[str, dict[int, Version]]]:
    """Per template: its view (images of the versions read) and the versions read."""
    views: dict[str, TemplateView] = {}
    read: dict[str, dict[int, Version]] = {}
    for template_id, raw in describe_templates(api, needs).items():
        need = needs[template_id]
        default, latest = int(raw["DefaultVersionNumber"]), int(raw["LatestVersionNumber"])
        numbers = need.numbers | {n for s in need.specs if (n := _resolve(s, default, latest)) is not None}
        low = max(1, latest - RUN_WINDOW + 1) if need.search else None
        versions = describe_versions(api, template_id, numbers, low)
        read[template_id] = versions
        views[template_id] = TemplateView(
            template_id=template_id,
            name=str(raw.get("LaunchTemplateName", "")),
            default_version=default,
            latest_version=latest,
            images={n: v.image_id for n, v in sorted(versions.items())},
            aliases={n: v.alias for n, v in sorted(versions.items()) if v.alias},
        )
    return views, read


def templates_named_by(api: Api, groups: Sequence[GroupView]) -> dict[str, TemplateView]:
    """The templates these groups name, with the images of the versions they name."""
    needs: dict[str, Need] = {}
    for group in groups:
        for spec in group.template.specs if group.template is not None else ():
            needs.setdefault(spec.template_id, Need()).specs.add(spec.version)
    return template_views(api, needs)[0] if needs else {}


def run_versions(versions: Mapping[int, Version], job: Job) -> dict[int, int]:
    """Source version -> the newest version made from it that names this run and (when the job knows
    its image) uses that image."""
    made: dict[int, int] = {}
    for number in sorted(versions):
        version = versions[number]
        source = naming.version_source(version.description)
        if (
            source is not None
            and naming.mentions_run(version.description, job.run_id)
            and (not job.image_id or version.image_id == job.image_id)
        ):
            made[source] = number
    return made


def observe_templates(
    api: Api, jobs: Sequence[Job], views: Mapping[str, GroupView | None]
) -> dict[str, dict[str, TemplateView]]:
    """Group -> {template id -> view} for the jobs in PENDING, IMAGING and UPDATING_TEMPLATE."""
    needs = needs_of(jobs, views)
    if not needs:
        return {}
    shared, read = template_views(api, needs)
    answer: dict[str, dict[str, TemplateView]] = {}
    for job in jobs:
        if job.phase not in TEMPLATE_PHASES:
            continue
        view = views.get(job.group)
        ids = [
            s.template_id for s in ([view.template.main, *view.template.overrides] if view and view.template else [])
        ]
        ids += [job.template_id] if job.template_id else []
        mine = {tid: shared[tid] for tid in dict.fromkeys(ids) if tid in shared}
        if job.phase is Phase.UPDATING_TEMPLATE:
            for tid in mine:
                mine[tid] = replace(mine[tid], run_versions=run_versions(read[tid], job))
        answer[job.group] = mine
    return answer
