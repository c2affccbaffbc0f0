"""EC2 launch templates as AWS behaves and moto does not.

- CreateLaunchTemplateVersion with SourceVersion (a number, $Latest or $Default) starts from every
  field of that version and replaces only the top-level keys the request names (moto kept only what
  was given, so a new version with just ImageId lost user data, profile, disks, tags...). Inherited
  block device mappings lose their SnapshotId, as the API reference says. Without SourceVersion the
  version holds only what was given.
- DeleteLaunchTemplateVersions exists; the default version cannot be deleted.
- Versions are looked up by number, not by list position, so after deletions $Latest, $Default,
  numbers, MinVersion/MaxVersion and Latest/DefaultVersionNumber stay right, and new versions are
  numbered after the highest number ever used (AWS never reuses a number).
- Describe calls page with NextToken instead of silently stopping at 15 results.
- Creation times come from the sandbox clock.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from moto.core.responses import ActionResult
from moto.ec2.exceptions import (
    InvalidLaunchTemplateVersionNotFound,
    InvalidParameterCombination,
    InvalidParameterValue,
    MissingParameterError,
)
from moto.ec2.models import launch_templates as lt_models
from moto.ec2.utils import parse_user_data

from asgpatch_sandbox.override import original
from asgpatch_sandbox.services.ssm_parameters import resolved_data
from asgpatch_sandbox.world import current

MAX_VERSIONS_PER_DELETE = 200
DEFAULT_VERSION_UNDELETABLE = (
    "The default version cannot be deleted. Either specify another version as default or delete the launch template."
)
VERSION_MISSING = "The specified launch template version does not exist."
TEMPLATE_MISSING = {
    "LaunchTemplateId": ("launchTemplateIdDoesNotExist", "The specified launch template ID does not exist."),
    "LaunchTemplateName": ("launchTemplateNameDoesNotExist", "The specified launch template name does not exist."),
}


# --- versions by number --------------------------------------------------------------------------


def find_version(template: Any, number: int) -> Any:
    """By number: moto indexed its list by number - 1, which breaks once a version is deleted."""
    return next((v for v in template.versions if v.number == number), None)


def _highest_number(template: Any) -> int:
    used = max((v.number for v in template.versions), default=0)
    return max(used, int(getattr(template, "sandbox_highest_number", 0)))


def create_version(self: Any, data: dict[str, Any], description: str) -> Any:
    """Numbered after the highest number ever used: AWS never reuses a deleted version's number."""
    number = _highest_number(self) + 1
    version = lt_models.LaunchTemplateVersion(self, number, data, description)
    version.create_time = current().clock.now_datetime()
    self.versions.append(version)
    self.sandbox_highest_number = number
    return version


def get_version(self: Any, spec: Any) -> Any:
    alias = str(spec).lower()
    if alias == "$latest":
        return self.latest_version()
    if alias == "$default":
        return self.default_version()
    try:
        version = find_version(self, int(str(spec)))
    except ValueError:
        version = None
    if version is None:
        raise InvalidLaunchTemplateVersionNotFound(template_id=self.id, version=str(spec))
    return version


def default_version(self: Any) -> Any:
    return self.get_version(str(self.default_version_number))


def latest_version(self: Any) -> Any:
    return max(self.versions, key=lambda v: v.number)


def template_init(self: Any, *args: Any, **kwargs: Any) -> None:
    """moto's constructor, with the creation time on the sandbox clock."""
    original(lt_models.LaunchTemplate, "__init__")(self, *args, **kwargs)
    self.create_time = current().clock.now_datetime()


# --- backend: describe versions by number --------------------------------------------------------


def _in_range(number: int, low: int | None, high: int | None) -> bool:
    return (low is None or number >= low) and (high is None or number <= high)


def describe_launch_template_versions(
    self: Any,
    template_name: str | None,
    template_id: str | None,
    versions: list[str],
    min_version: int | None,
    max_version: int | None,
    max_results: int | None = None,
) -> list[tuple[Any, Any]]:
    """Every matching (template, version), in order; the response pages them (max_results stays in
    the signature for moto's callers)."""
    if not template_name and not template_id:
        return _latest_or_default_everywhere(self, versions)
    if template_name and template_id:
        raise InvalidParameterCombination("Specify either the launch template ID or name, but not both.")
    template = (
        self.get_launch_template_by_name(template_name) if template_name else self.get_launch_template(template_id)
    )
    if versions:
        return [(template, template.get_version(v)) for v in dict.fromkeys(versions)]
    ordered = sorted(template.versions, key=lambda v: v.number)
    return [(template, v) for v in ordered if _in_range(v.number, min_version or None, max_version or None)]


def _latest_or_default_everywhere(backend: Any, versions: list[str]) -> list[tuple[Any, Any]]:
    aliases = {v.lower() for v in versions}
    if not versions or not aliases <= {"$latest", "$default"}:
        raise InvalidParameterValue(
            "To describe the launch template data for all your launch templates, specify $Latest, "
            "$Default, or both for Versions, and omit the launch template ID and name."
        )
    found: list[tuple[Any, Any]] = []
    for template in backend.launch_templates.values():
        chosen = {template.get_version(alias).number: template.get_version(alias) for alias in sorted(aliases)}
        found.extend((template, version) for _, version in sorted(chosen.items()))
    return found


# --- responses -----------------------------------------------------------------------------------


def _template_of(self: Any) -> Any:
    name = self._get_param("LaunchTemplateName")
    template_id = self._get_param("LaunchTemplateId")
    if name and template_id:
        raise InvalidParameterCombination("Specify either the launch template ID or name, but not both.")
    if template_id:
        return self.ec2_backend.get_launch_template(template_id)
    if name:
        return self.ec2_backend.get_launch_template_by_name(name)
    raise MissingParameterError("launch template ID or launch template name")


def _existing_template(self: Any) -> Any:
    """The named template, or None when it does not exist (DeleteLaunchTemplateVersions reports
    that per version rather than failing)."""
    name = self._get_param("LaunchTemplateName")
    template_id = self._get_param("LaunchTemplateId")
    if name and template_id:
        raise InvalidParameterCombination("Specify either the launch template ID or name, but not both.")
    if not name and not template_id:
        raise MissingParameterError("launch template ID or launch template name")
    backend = self.ec2_backend
    template_id = template_id or backend.launch_template_name_to_ids.get(name)
    return backend.launch_templates.get(template_id)


def inherited_data(source: Any, given: dict[str, Any]) -> dict[str, Any]:
    """AWS: the new version inherits the source's parameters; those the request names overwrite
    them whole; snapshots in inherited block device mappings are dropped."""
    data = copy.deepcopy(source.data)
    if "BlockDeviceMappings" not in given:
        for mapping in data.get("BlockDeviceMappings") or []:
            (mapping.get("Ebs") or {}).pop("SnapshotId", None)
    data.update(given)
    return data


def _version_view(self: Any, template: Any, version: Any, resolve_alias: bool = False) -> dict[str, Any]:
    data = resolved_data(current(), self.region, version.data) if resolve_alias else version.data
    view = {
        "CreateTime": version.create_time,
        "CreatedBy": f"arn:{self.partition}:iam::{self.current_account}:root",
        "DefaultVersion": template.is_default(version),
        "LaunchTemplateData": data,
        "LaunchTemplateId": template.id,
        "LaunchTemplateName": template.name,
        "VersionNumber": version.number,
    }
    if version.description:
        view["VersionDescription"] = version.description
    return view


def respond_create_launch_template_version(self: Any) -> ActionResult:
    template = _template_of(self)
    given = dict(self._get_param("LaunchTemplateData", {}) or {})
    if "UserData" in given:
        given["UserData"] = parse_user_data(given["UserData"])
    source_spec = self._get_param("SourceVersion")
    data = inherited_data(template.get_version(source_spec), given) if source_spec else given
    self.error_on_dryrun()
    # ClientToken makes a retried request return the version the first one created, as on AWS.
    tokens: dict[str, Any] = template.__dict__.setdefault("sandbox_client_tokens", {})
    token = self._get_param("ClientToken")
    version = tokens.get(token) if token else None
    if version is None:
        version = template.create_version(data, self._get_param("VersionDescription"))
        if token:
            tokens[token] = version
    return ActionResult({"LaunchTemplateVersion": _version_view(self, template, version)})


def _version_numbers(specs: list[str]) -> list[int]:
    if not specs:
        raise MissingParameterError("LaunchTemplateVersion")
    if len(specs) > MAX_VERSIONS_PER_DELETE:
        raise InvalidParameterValue(
            f"You can specify up to {MAX_VERSIONS_PER_DELETE} launch template version numbers in a single request."
        )
    try:
        return [int(spec) for spec in dict.fromkeys(specs)]
    except ValueError:
        raise InvalidParameterValue("Launch template versions to delete must be version numbers.") from None


def _unknown_template_answer(self: Any, numbers: list[int]) -> ActionResult:
    key = "LaunchTemplateId" if self._get_param("LaunchTemplateId") else "LaunchTemplateName"
    code, message = TEMPLATE_MISSING[key]
    failures = [
        {key: self._get_param(key), "VersionNumber": n, "ResponseError": {"Code": code, "Message": message}}
        for n in numbers
    ]
    return ActionResult(
        {"SuccessfullyDeletedLaunchTemplateVersions": [], "UnsuccessfullyDeletedLaunchTemplateVersions": failures}
    )


def respond_delete_launch_template_versions(self: Any) -> ActionResult:
    """Deletes the listed versions; unknown ones are reported, the default one refuses the request."""
    numbers = _version_numbers(list(self._get_param("Versions", []) or []))
    self.error_on_dryrun()
    template = _existing_template(self)
    if template is None:
        return _unknown_template_answer(self, numbers)
    if template.default_version_number in numbers:
        raise InvalidParameterValue(DEFAULT_VERSION_UNDELETABLE)
    ids = {"LaunchTemplateId": template.id, "LaunchTemplateName": template.name}
    deleted, failed = [], []
    for number in numbers:
        version = find_version(template, number)
        if version is None:
            error = {"Code": "launchTemplateVersionDoesNotExist", "Message": VERSION_MISSING}
            failed.append({**ids, "VersionNumber": number, "ResponseError": error})
            continue
        template.versions.remove(version)
        deleted.append({**ids, "VersionNumber": number})
    return ActionResult(
        {"SuccessfullyDeletedLaunchTemplateVersions": deleted, "UnsuccessfullyDeletedLaunchTemplateVersions": failed}
    )


def page(items: list[Any], max_results: int | None, token: str | None) -> tuple[list[Any], str | None]:
    """One page and the token of the next; no MaxResults means everything from the token on."""
    try:
        start = int(token) if token else 0
    except ValueError:
        raise InvalidParameterValue(f"Invalid value '{token}' for NextToken.") from None
    if not max_results:
        return items[start:], None
    end = start + max_results
    return items[start:end], (str(end) if end < len(items) else None)


def _paged(answer: dict[str, Any], key: str, items: list[Any], self: Any, view: Callable[[Any], Any]) -> ActionResult:
    chosen, token = page(items, self._get_int_param("MaxResults"), self._get_param("NextToken"))
    answer[key] = [view(item) for item in chosen]
    if token:
        answer["NextToken"] = token
    return ActionResult(answer)


def respond_describe_launch_template_versions(self: Any) -> ActionResult:
    self.error_on_dryrun()
    found = self.ec2_backend.describe_launch_template_versions(
        template_name=self._get_param("LaunchTemplateName"),
        template_id=self._get_param("LaunchTemplateId"),
        versions=list(self._get_param("Versions", []) or []),
        min_version=self._get_int_param("MinVersion"),
        max_version=self._get_int_param("MaxVersion"),
    )
    resolve = str(self._get_param("ResolveAlias", "false")).lower() == "true"
    return _paged(
        {}, "LaunchTemplateVersions", found, self, lambda pair: _version_view(self, pair[0], pair[1], resolve)
    )


def _template_view(self: Any, template: Any) -> dict[str, Any]:
    return {
        "CreateTime": template.create_time,
        "CreatedBy": f"arn:{self.partition}:iam::{self.current_account}:root",
        "DefaultVersionNumber": template.default_version_number,
        "LatestVersionNumber": template.latest_version_number,
        "LaunchTemplateId": template.id,
        "LaunchTemplateName": template.name,
        "Tags": template.tags,
    }


def respond_describe_launch_templates(self: Any) -> ActionResult:
    self.error_on_dryrun()
    templates = self.ec2_backend.describe_launch_templates(
        template_names=self._get_param("LaunchTemplateNames", []),
        template_ids=self._get_param("LaunchTemplateIds", []),
        filters=self._filters_from_querystring(),
    )
    return _paged({}, "LaunchTemplates", templates, self, lambda t: _template_view(self, t))
