"""UPDATING_TEMPLATE: a new launch-template version with the patched image, and the group pointed at
it the way each of its version specifications needs (a number, $Latest, $Default, a policy's overrides)."""

from __future__ import annotations

from dataclasses import replace

from asgpatch import naming
from asgpatch.actions import Action, CreateTemplateVersion, SetDefaultVersion, UseTemplateVersion, WriteState
from asgpatch.decision import Decision, alias_note, fail, minutes, overdue, release
from asgpatch.model import GroupView, Job, Observation, Outcome, Phase, Settings, TemplateSpec

TEMPLATE_TIMEOUT = 600.0  # new template versions are immediate; this only bounds a stuck read


def new_version(job: Job) -> CreateTemplateVersion:
    return CreateTemplateVersion(
        template_id=job.template_id or "",
        source_version=job.source_version or 0,
        image_id=job.image_id or "",
        description=naming.version_description(job.run_id, job.source_version or 0),
    )


def sharing(job: Job, obs: Observation, group: GroupView, settings: Settings) -> Decision:
    """A group that shares another group's bake changes nothing and brings up no instance: it waits
    until the bake has pointed its own group at the new version, then is pointed the same way (its
    own overrides on the same image get versions of their own). When the bake ends another way, so
    does this group, untouched."""
    bake = obs.bake
    if bake is None:
        return release(job, group, Outcome.FAILED, f"not patched: the bake of {job.bake_with} is not in this run")
    if bake.outcome is Outcome.PATCHED and bake.new_version is not None and bake.image_id and bake.template_id:
        if group.template is None or group.template.main.template_id != bake.template_id:
            return release(job, group, Outcome.SKIPPED, "its launch template changed during the run; left as it is")
        view = obs.templates.get(bake.template_id)
        followed = view.aliases.get(bake.source_version or 0) if view is not None else None
        updating = job.at(
            Phase.UPDATING_TEMPLATE,
            obs.now,
            template_id=bake.template_id,
            source_version=bake.source_version,
            new_version=bake.new_version,
            image_id=bake.image_id,
            source_image=bake.source_image,
            reason=alias_note(followed, bake.source_version or 0),
        )
        return Decision(updating, (WriteState(updating),))
    if bake.done or bake.outcome in (Outcome.FAILED, Outcome.SKIPPED):
        outcome = Outcome.SKIPPED if bake.outcome is Outcome.SKIPPED else Outcome.FAILED
        ended = "was skipped" if outcome is Outcome.SKIPPED else "failed"
        why = f": {bake.reason}" if bake.reason else ""
        return release(job, group, outcome, f"not patched: it shares the bake of {bake.group}, which {ended}{why}")
    return Decision(job)


def updating_template(job: Job, obs: Observation, group: GroupView, settings: Settings) -> Decision:
    template = obs.templates.get(job.template_id or "")
    if template is None:
        return fail(job, obs.now, f"launch template {job.template_id} no longer exists")
    if job.new_version is None:
        made = template.run_versions.get(job.source_version or 0)
        if made is None:
            return Decision(job, (new_version(job),))
        job = replace(job, new_version=made)
    missing, uses = _point_every_target(job, obs, group)
    if missing:
        if overdue(job.phase_started, obs.now, TEMPLATE_TIMEOUT):
            return fail(
                job, obs.now, f"override template versions were not confirmed within {minutes(TEMPLATE_TIMEOUT)}"
            )
        return Decision(job, missing)  # next tick finds them by their description and uses them
    patched = job.at(Phase.RESTORING, obs.now, outcome=Outcome.PATCHED)  # keeps a relaunch's note
    # The group is pointed at the new version before the tag says "restoring": after a crash in
    # between, the next run is still updating, finds the version by its description and points again.
    return Decision(patched, (*uses, WriteState(patched)))


def _point_every_target(job: Job, obs: Observation, group: GroupView) -> tuple[tuple[Action, ...], tuple[Action, ...]]:
    """Every version specification of the group that launches the image that was patched moves to a
    version with the new image: the main one to the job's new version; an override (another template,
    or another version of the same one) on the same image to a version made from its own. An override
    on another image (another architecture, say) keeps its version. A specification that already names
    a version this run made is done. Returns (versions still to create, actions that point the group)."""
    create: dict[tuple[str, int], Action] = {}
    uses: list[Action] = []
    if group.template is None:
        return (), ()
    for spec in group.template.specs:
        view = obs.templates.get(spec.template_id)
        if view is None:
            continue
        try:
            source = view.resolve(spec.version)
        except ValueError:
            continue
        if (spec.template_id == job.template_id and source == job.new_version) or source in view.run_versions.values():
            continue  # already launches a version this run made
        # The main specification (or one naming the same version) moves to the job's new version.
        main = spec.template_id == job.template_id and (source == job.source_version or spec is group.template.main)
        if not main and view.images.get(source) != job.source_image:
            continue
        made = job.new_version if main else view.run_versions.get(source)
        if made is None:
            description = naming.version_description(job.run_id, source)
            create[(spec.template_id, source)] = CreateTemplateVersion(
                spec.template_id, source, job.image_id or "", description
            )
        else:
            uses.extend(_use_version(group, spec, made))
    return tuple(create.values()), tuple(dict.fromkeys(uses))


def _use_version(group: GroupView, spec: TemplateSpec, version: int) -> tuple[Action, ...]:
    """Make the group launch from `version` of the template the way its version spec requires."""
    if spec.version == "$Latest":
        return ()
    if spec.version == "$Default":
        return (SetDefaultVersion(spec.template_id, version),)
    mixed = group.template.mixed_policy if group.template else False
    return (UseTemplateVersion(group.name, spec.template_id, version, mixed, current=spec.version),)
