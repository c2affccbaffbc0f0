"""Launch templates are shared property: which bakes a run makes, and which groups it must leave alone.

A bake is one template version patched once per run (one patch instance, one image, one new version
made from it): every group of the run that launches that version shares it. One group hosts the bake
(brings up the patch instance); the others follow it and are only pointed at the new version.

A new version moves the template's $Latest, and a new default moves its $Default, for every group
that names the template so, in the run or not. So a run never makes a version (or a default) that
would change what a group outside the run launches, and never makes one that would move $Latest
under a group of the run onto another lineage: the groups that would need it are skipped, with a
reason that names the groups it would have changed. Checked over every group in the region that
names the template — its LaunchTemplate, or a MixedInstancesPolicy's main specification and overrides.

Pure: groups and template views in, roles out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from asgpatch.model import GroupView, Job, TemplateSpec, TemplateView

Lineage = tuple[str, int]  # (template id, version number)
NAMES_SHOWN = 3
# Processes that, suspended by the group's owner, make hosting a bake impossible or unsafe: without
# Launch no patch instance comes up; without Terminate a group at zero keeps it after the restore.
HOST_BLOCKERS = frozenset({"Launch", "Terminate"})


@dataclass(frozen=True)
class Roles:
    hosts: frozenset[str] = frozenset()  # groups that bring up a patch instance for their bake
    followers: Mapping[str, str] = field(default_factory=dict)  # group -> the host of the bake it shares
    skipped: Mapping[str, str] = field(default_factory=dict)  # group -> why the run leaves it alone


@dataclass(frozen=True)
class Candidate:
    """A group the run would patch: its view, and the job it has (pending, or resumed in flight)."""

    group: GroupView
    job: Job

    @property
    def name(self) -> str:
        return self.group.name

    @property
    def resumed(self) -> bool:
        return self.job.phase.value != "pending"


def resolve(spec: TemplateSpec, templates: Mapping[str, TemplateView]) -> Lineage | None:
    template = templates.get(spec.template_id)
    if template is None:
        return None
    try:
        return spec.template_id, template.resolve(spec.version)
    except ValueError:
        return None


def lineage_of(
    candidate: Candidate, templates: Mapping[str, TemplateView], outputs: Mapping[Lineage, Lineage] | None = None
) -> Lineage | None:
    """The version a group bakes from: recorded by a job in flight, else what its main spec names now —
    unless that is the version a bake in flight already made (a stopped run's new version became the
    $Latest of groups that were to share it): then it shares that bake."""
    job = candidate.job
    if candidate.resumed:
        if job.template_id and job.source_version is not None:
            return job.template_id, job.source_version
        return None
    if candidate.group.template is None:
        return None
    lineage = resolve(candidate.group.template.main, templates)
    return (outputs or {}).get(lineage, lineage) if lineage is not None else None


def bake_outputs(candidates: Sequence[Candidate]) -> dict[Lineage, Lineage]:
    """The version each bake in flight already made -> the version it was made from."""
    return {
        (c.job.template_id, c.job.new_version): (c.job.template_id, c.job.source_version)
        for c in candidates
        if c.resumed and c.job.template_id and c.job.new_version is not None and c.job.source_version is not None
    }


def image_of(lineage: Lineage | None, templates: Mapping[str, TemplateView]) -> str | None:
    if lineage is None:
        return None
    template = templates.get(lineage[0])
    return template.images.get(lineage[1]) if template is not None else None


def targets_of(
    candidate: Candidate, templates: Mapping[str, TemplateView], outputs: Mapping[Lineage, Lineage] | None = None
) -> dict[Lineage, tuple[str, ...]]:
    """Every version the group's patch makes a new version from, with the version specs of the group
    that name it: its main lineage, and each override that launches the same image (another lineage,
    such as an arm64 version, keeps its version and is no target)."""
    main = lineage_of(candidate, templates, outputs)
    if main is None:
        return {}
    source_image = image_of(main, templates) or candidate.job.source_image
    found: dict[Lineage, list[str]] = {main: []}
    ref = candidate.group.template
    for spec in ref.specs if ref is not None else ():
        lineage = resolve(spec, templates)
        if lineage is None:
            continue
        lineage = (outputs or {}).get(lineage, lineage)
        if lineage == main or (source_image is not None and image_of(lineage, templates) == source_image):
            found.setdefault(lineage, []).append(spec.version)
    return {lineage: tuple(dict.fromkeys(specs)) for lineage, specs in found.items()}


def share(
    candidates: Sequence[Candidate], region_groups: Iterable[GroupView], templates: Mapping[str, TemplateView]
) -> Roles:
    """Who hosts which bake, who follows, and who is skipped (see the module docstring)."""
    users = _users(candidates, region_groups)
    active = {c.name: c for c in candidates}
    outputs = bake_outputs(candidates)
    targets = {c.name: targets_of(c, templates, outputs) for c in candidates}
    skipped: dict[str, str] = {}
    # A job in flight (resumed from its state tag) was admitted by the run that started it: it is
    # finished, never skipped half-way; the new groups are checked against it.
    newly = _override_conflicts(active, targets, templates, outputs)
    while True:
        for name, reason in newly.items():
            skipped[name] = reason
            active.pop(name)
        found = _unsafe(active, targets, users, templates, outputs)
        newly = {n: r for n, r in found.items() if not active[n].resumed}
        if not newly:
            break
    hosts, followers = set(), {}
    for _, members in sorted(_bakes(active, templates, outputs).items()):
        host = _host(members)
        if host is None:
            reason = _blocked_reason(members)
            skipped.update({m.name: reason for m in members})
            continue
        hosts.add(host.name)
        followers.update({m.name: host.name for m in members if m is not host})
    return Roles(frozenset(hosts), followers, skipped)


# --- who names which template how ---------------------------------------------------------------


def _users(candidates: Sequence[Candidate], region_groups: Iterable[GroupView]) -> dict[str, dict[str, set[str]]]:
    """template id -> {group -> the version specs it names the template by}, for every group known."""
    groups = {g.name: g for g in region_groups}
    groups.update({c.name: c.group for c in candidates})
    users: dict[str, dict[str, set[str]]] = {}
    for group in groups.values():
        for spec in group.template.specs if group.template is not None else ():
            users.setdefault(spec.template_id, {}).setdefault(group.name, set()).add(spec.version)
    return users


def _bakes(
    active: Mapping[str, Candidate], templates: Mapping[str, TemplateView], outputs: Mapping[Lineage, Lineage]
) -> dict[Lineage, list[Candidate]]:
    bakes: dict[Lineage, list[Candidate]] = {}
    for candidate in active.values():
        lineage = lineage_of(candidate, templates, outputs)
        if lineage is not None:
            bakes.setdefault(lineage, []).append(candidate)
    return bakes


def _creations(
    active: Mapping[str, Candidate], targets: Mapping[str, Mapping[Lineage, tuple[str, ...]]]
) -> dict[str, dict[int, set[str]]]:
    """template id -> {version a new version is made from -> the groups that need it}."""
    made: dict[str, dict[int, set[str]]] = {}
    for name in active:
        for template_id, number in targets[name]:
            made.setdefault(template_id, {}).setdefault(number, set()).add(name)
    return made


def _override_conflicts(
    active: Mapping[str, Candidate],
    targets: Mapping[str, Mapping[Lineage, tuple[str, ...]]],
    templates: Mapping[str, TemplateView],
    outputs: Mapping[Lineage, Lineage],
) -> dict[str, str]:
    """A version is baked once per run: an override that names another bake's version is not given a
    second new version from it with this group's image."""
    mains = {lineage_of(c, templates, outputs): name for name, c in sorted(active.items())}
    conflicts = {}
    for name, candidate in sorted(active.items()):
        if candidate.resumed:
            continue
        main = lineage_of(candidate, templates, outputs)
        for lineage in targets[name]:
            owner = mains.get(lineage)
            if lineage != main and owner is not None and owner != name:
                template = _template_name(lineage[0], templates)
                conflicts[name] = (
                    f"an override names version {lineage[1]} of launch template {template}, which group {owner} "
                    "bakes in this run: patch them in separate runs (--asg), or give the override its own version"
                )
    return conflicts


def _unsafe(
    active: Mapping[str, Candidate],
    targets: Mapping[str, Mapping[Lineage, tuple[str, ...]]],
    users: Mapping[str, Mapping[str, set[str]]],
    templates: Mapping[str, TemplateView],
    outputs: Mapping[Lineage, Lineage],
) -> dict[str, str]:
    """Groups whose new version or new default would change what another group launches."""
    unsafe: dict[str, str] = {}
    for template_id, made in sorted(_creations(active, targets).items()):
        view = templates.get(template_id)
        if view is None:
            continue
        naming = users.get(template_id, {})
        latest = sorted(g for g, specs in naming.items() if "$Latest" in specs)
        default = sorted(g for g, specs in naming.items() if "$Default" in specs and g not in active)
        makers = sorted(set().union(*made.values()))
        name = view.name or template_id
        outside = [g for g in latest if g not in active]
        if outside:  # any new version becomes their $Latest
            for group in makers:
                unsafe.setdefault(group, _shared(name, "a new version of it", outside, "$Latest"))
        elif latest:  # all in the run: only a version made from the one they launch may become $Latest
            launched = outputs.get((template_id, view.latest_version), (template_id, view.latest_version))[1]
            for number, groups in made.items():
                if number != launched:
                    why = (
                        f"launch template {name}: a new version from version {number} would become $Latest for "
                        f"{_names(latest)}, which {_verb(latest)} version {view.latest_version}; pin "
                        f"{_pronoun(latest)} to a version, or give this group its own template"
                    )
                    unsafe.update({group: why for group in sorted(groups) if group not in unsafe})
        moving_default = [
            group for group in makers
            if any("$Default" in specs for (t, _), specs in targets[group].items() if t == template_id)
        ]  # fmt: skip
        if default:  # a new default becomes theirs
            for group in moving_default:
                unsafe.setdefault(group, _shared(name, "a new default version", default, "$Default"))
    return unsafe


def _shared(template: str, change: str, bystanders: Sequence[str], how: str) -> str:
    return (
        f"launch template {template} is shared: {change} would change what {_names(bystanders)} "
        f"{_verb(bystanders)} ({how}); tag {_pronoun(bystanders)} too, or give this group its own template"
    )


def _verb(groups: Sequence[str]) -> str:
    return "launches" if len(groups) == 1 else "launch"


def _pronoun(groups: Sequence[str]) -> str:
    return "it" if len(groups) == 1 else "them"


# --- hosts --------------------------------------------------------------------------------------


def _host(members: Sequence[Candidate]) -> Candidate | None:
    """A job already in flight keeps its bake; else a member that can bring up an instance, at zero
    first (nothing serving is touched), then by name."""
    resumed = [m for m in members if m.resumed]
    if resumed:
        return sorted(resumed, key=lambda m: m.name)[0]
    able = [m for m in members if not HOST_BLOCKERS & m.group.suspended]
    able.sort(key=lambda m: (m.group.capacity.desired != 0, m.name))
    return able[0] if able else None


def _blocked_reason(members: Sequence[Candidate]) -> str:
    suspended = sorted(HOST_BLOCKERS & set().union(*(m.group.suspended for m in members)))
    processes = " and ".join(suspended)
    subject = "its owner" if len(members) == 1 else "the owners of every group on this template version"
    return (
        f"{subject} suspended {processes}: asgpatch would bring up a patch instance it could not "
        f"{'launch' if 'Launch' in suspended else 'take out again'}; resume {processes} to patch it"
    )


def _names(groups: Sequence[str]) -> str:
    shown = ", ".join(groups[:NAMES_SHOWN])
    more = len(groups) - NAMES_SHOWN
    return f"{shown} and {more} more" if more > 0 else shown


def _template_name(template_id: str, templates: Mapping[str, TemplateView]) -> str:
    view = templates.get(template_id)
    return view.name if view is not None and view.name else template_id
