"""An in-memory AWS for engine tests: groups, instances, SSM, commands, images and templates that
change over (fake) time, with failures on request. It implements asgpatch.cloud.Cloud."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from asgpatch import naming
from asgpatch.actions import (
    Action,
    CancelCommand,
    ClearState,
    CreateImage,
    CreateTemplateVersion,
    DeregisterImage,
    ProtectInstance,
    ResumeProcesses,
    SendPatchCommand,
    SetCapacity,
    SetDefaultVersion,
    SuspendProcesses,
    TerminateInstance,
    UseTemplateVersion,
    WriteLease,
    WriteResult,
    WriteState,
)
from asgpatch.clock import FakeClock
from asgpatch.cloud import CloudError, Discovery
from asgpatch.model import (
    Capacity,
    CommandView,
    ComplianceView,
    GroupView,
    ImageView,
    InstanceView,
    Job,
    LaunchHook,
    Observation,
    PatchCounts,
    Phase,
    ScheduledAction,
    TemplateRef,
    TemplateSpec,
    TemplateView,
)
from asgpatch.seal import SEAL_TAG, seal, verified
from asgpatch.state import LEASE_TAG, REASON_TAG, RESULT_TAG, STATE_TAG, encode, lease_value, reason_value

LAUNCH, SSM, PATCH, IMAGE = 30.0, 20.0, 60.0, 45.0
FLAKY = CloudError("InternalFailure", "injected by the fake", "FakeCloud")  # an error that outlived retries
AT_ZERO = Capacity(0, 2, 0)
FAKE_TEMPLATE = "lt-0a1b2c3d4e5f67890"  # the template every group launches from unless told otherwise
BASE_IMAGE = "ami-0ba5e0000000000b1"
FAKE_STATE_KEY = b"the fake account's state key, 32b"  # what /asgpatch/state-key holds in the fake
SOURCE_DATA = {"InstanceType": "t3.micro", "UserData": "IyEvYmluL2Jhc2gK", "IamInstanceProfile": "app-profile"}


@dataclass
class FakeInstance:
    instance_id: str
    launched: float
    protected: bool = False
    terminated: bool = False
    doomed: bool = False  # this launch fails: the instance leaves LAUNCH seconds after it started
    # Terminated through EC2 behind Auto Scaling's back: with ReplaceUnhealthy suspended it stays in the
    # group (unhealthy, counting toward desired) and nothing replaces it, as AWS does.
    dead: bool = False


@dataclass
class FakeGroup:
    name: str
    capacity: Capacity
    tags: dict[str, str]
    template_id: str | None = FAKE_TEMPLATE
    version: str = "$Default"
    mixed: bool = False
    suspended: set[str] = field(default_factory=set)
    instances: list[FakeInstance] = field(default_factory=list)
    # launch/ssm/patch/image -> fail|hang|offline; kill -> once|twice: someone terminates the instance
    # a patch command was just sent to (through EC2), for that many commands; kill -> before-send|
    # before-image: someone terminates it between the tick's read and SendCommand/CreateImage, which
    # then fails the way AWS answers a call on a terminated instance
    fail: dict[str, str] = field(default_factory=dict)
    killed: int = 0
    # The next N launches fail the way the sandbox's launch=fail does: the instance never reaches
    # InService, leaves after LAUNCH seconds with a failed scaling activity, and Auto Scaling launches
    # another. Unlike fail={"launch": "fail"} (stuck Pending for ever), later launches succeed.
    doomed_launches: int = 0
    last_failed_launch: str | None = None
    scheduled: list[ScheduledAction] = field(default_factory=list)  # read by the restore; never fire here


@dataclass
class FakeTemplate:
    """A launch template's versions: each one's ImageId, description and the rest of its data, which
    a new version copies from its SourceVersion (only ImageId replaced), as EC2 and the sandbox do."""

    template_id: str
    default: int = 1
    images: dict[int, str] = field(default_factory=lambda: {1: BASE_IMAGE})
    descriptions: dict[int, str] = field(default_factory=lambda: {1: "initial"})
    data: dict[int, dict[str, str]] = field(default_factory=dict)
    aliases: dict[int, str] = field(default_factory=dict)  # versions whose ImageId is resolve:ssm: (images: resolved)

    def data_of(self, number: int) -> dict[str, str]:
        return self.data.get(number, SOURCE_DATA)


@dataclass
class FakeCommand:
    command_id: str
    instance_id: str
    group: str
    comment: str
    sent: float
    cancelled: bool = False
    protected: bool = False  # whether the instance was protected from scale-in when it was sent


@dataclass
class FakeImage:
    image_id: str
    name: str
    group: str
    created: float
    deregistered: bool = False


class FakeCloud:
    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.groups: dict[str, FakeGroup] = {}
        self.templates: dict[str, FakeTemplate] = {FAKE_TEMPLATE: FakeTemplate(FAKE_TEMPLATE)}
        self.commands: dict[str, FakeCommand] = {}
        self.images_made: dict[str, FakeImage] = {}
        self.calls: list[Action] = []
        self.observed: int = 0
        self.errors: dict[type, CloudError] = {}  # make an action type fail
        # make an action type fail only for its next N calls (with errors[type] when set, else FLAKY)
        self.errors_left: dict[type, int] = {}
        self.observe_errors_left: int = 0  # make the next N observe() calls fail with FLAKY
        self._ids = itertools.count(1)

    # setup ------------------------------------------------------------------------------------
    def add_group(self, name: str, capacity: Capacity = AT_ZERO, **kwargs: object) -> FakeGroup:
        tags = dict(kwargs.pop("tags", {"ep:asg:patch": "true"}))  # type: ignore[call-overload]
        group = FakeGroup(name, capacity, tags, **kwargs)  # type: ignore[arg-type]
        self.groups[name] = group
        self._converge(group)
        return group

    def _id(self, prefix: str) -> str:
        """Ids as long as AWS's: i-/ami- and 17 hex digits, command ids as UUIDs."""
        n = next(self._ids)
        if prefix == "cmd":
            return f"{n:08x}-0c0d-4e0f-8a1b-{n:012x}"
        return f"{prefix}-0{n:016x}"

    # Cloud ------------------------------------------------------------------------------------
    def discover(self, tag_key: str, tag_value: str, names: Sequence[str] = ()) -> Discovery:
        views = [self._view(g) for g in self.groups.values() if not names or g.name in names]
        tagged = tuple(v for v in views if v.tags.get(tag_key) == tag_value)
        untagged = tuple(v for v in views if v.tags.get(tag_key) != tag_value)
        missing = tuple(n for n in names if n not in self.groups)
        return Discovery(tagged, untagged, missing)

    def trusts(self, group: GroupView) -> bool:
        return verified(FAKE_STATE_KEY, group.name, group.tags)

    def in_flight(self, names: Sequence[str] = ()) -> tuple[GroupView, ...]:
        return tuple(self._view(g) for g in self.groups.values()
                     if STATE_TAG in g.tags and (not names or g.name in names))  # fmt: skip

    def scheduled_actions(self, groups: Sequence[str]) -> dict[str, tuple[ScheduledAction, ...]]:
        return {name: tuple(self.groups[name].scheduled) for name in groups if name in self.groups}

    def launch_hooks(self, groups: Sequence[str]) -> dict[str, tuple[LaunchHook, ...]]:
        return {}  # the fake's groups have no lifecycle hooks

    def template_users(self, template_ids: Sequence[str]) -> tuple[GroupView, ...]:
        views = (self._view(g) for g in self.groups.values())
        return tuple(v for v in views if v.template and any(s.template_id in template_ids for s in v.template.specs))

    def template_views(self, groups: Sequence[GroupView]) -> dict[str, TemplateView]:
        named = {s.template_id for g in groups if g.template for s in g.template.specs}
        nobody = Job(group="", run_id="")
        return {t: self._template_view(self.templates[t], nobody) for t in sorted(named) if t in self.templates}

    def observe(self, jobs: Sequence[Job], now: float) -> dict[str, Observation]:
        self._catch_up()
        if self.observe_errors_left > 0:
            self.observe_errors_left -= 1
            raise FLAKY
        self.observed += 1
        answer = {}
        for job in jobs:
            group = self.groups.get(job.group)
            answer[job.group] = Observation(
                now=now,
                group=self._view(group) if group else None,
                templates={t.template_id: self._template_view(t, job) for t in self.templates.values()},
                command=self._command_view(job),
                image=self._image_view(job),
                compliance=self._compliance_view(job),
                scheduled=tuple(group.scheduled) if group and job.phase is Phase.RESTORING else (),
            )
        return answer

    def act(self, action: Action) -> str | int | None:
        self.calls.append(action)
        self._catch_up()
        kind = type(action)
        if kind in self.errors_left:
            if self.errors_left[kind] > 0:
                self.errors_left[kind] -= 1
                raise self.errors.get(kind, FLAKY)
        elif kind in self.errors:
            raise self.errors[kind]
        handler = getattr(self, f"_do_{type(action).__name__}")
        return handler(action)  # type: ignore[no-any-return]

    def images(self, image_ids: Sequence[str]) -> dict[str, ImageView]:
        return {i: ImageView(i, "available", created=self.images_made[i].created) for i in image_ids
                if i in self.images_made and not self.images_made[i].deregistered}  # fmt: skip

    def publish(self, topic_arn: str, subject: str, message: str, attributes: Mapping[str, str]) -> None:
        self.calls.append(WriteResult(topic_arn, subject))

    # views ------------------------------------------------------------------------------------
    def _live(self, group: FakeGroup) -> list[FakeInstance]:
        return [i for i in group.instances if not i.terminated]

    def _view(self, group: FakeGroup) -> GroupView:
        now = self.clock.now()
        instances = tuple(self._instance_view(group, i, now) for i in self._live(group))
        template = None
        if group.template_id:
            template = TemplateRef(TemplateSpec(group.template_id, group.version), mixed_policy=group.mixed)
        return GroupView(
            name=group.name,
            capacity=group.capacity,
            tags=dict(group.tags),
            suspended=frozenset(group.suspended),
            instances=instances,
            template=template,
            launch_configuration=None if group.template_id else "old-lc",
            failed_launch="Launch failed (sandbox)" if group.fail.get("launch") == "fail" else group.last_failed_launch,
        )

    def _instance_view(self, group: FakeGroup, instance: FakeInstance, now: float) -> InstanceView:
        booted = now >= instance.launched + LAUNCH and group.fail.get("launch") != "fail" and not instance.doomed
        online = booted and now >= instance.launched + LAUNCH + SSM and group.fail.get("ssm") != "offline"
        if instance.dead:
            return InstanceView(instance.instance_id, "InService", instance.protected, "terminated",
                                instance.launched, "ConnectionLost")  # fmt: skip
        return InstanceView(
            instance_id=instance.instance_id,
            lifecycle="InService" if booted else "Pending",
            protected=instance.protected,
            ec2_state="running" if booted else "pending",
            launch_time=instance.launched,
            ssm_ping="Online" if online else None,
        )

    def _template_view(self, template: FakeTemplate, job: Job) -> TemplateView:
        made = {
            source: number
            for number, description in sorted(template.descriptions.items())
            if naming.mentions_run(description, job.run_id)
            and (source := naming.version_source(description)) is not None
            and (not job.image_id or template.images[number] == job.image_id)
        }
        return TemplateView(
            template_id=template.template_id,
            name=template.template_id,
            default_version=template.default,
            latest_version=max(template.images),
            images=dict(template.images),
            aliases=dict(template.aliases),
            run_versions=made,
        )

    def _command_view(self, job: Job) -> CommandView | None:
        command = self.commands.get(job.command_id or "")
        if command is None and job.command_id is None:
            wanted = (naming.command_comment(job.run_id, job.group), job.instance_id)
            command = next((c for c in self.commands.values() if (c.comment, c.instance_id) == wanted), None)
        if command is None:
            return None
        return CommandView(command.command_id, self._command_status(command))

    def _command_status(self, command: FakeCommand) -> str:
        if command.cancelled:
            return "Cancelled"
        group = self.groups.get(command.group)
        if group is not None and any(i.instance_id == command.instance_id and (i.dead or i.terminated)
                                     for i in group.instances):  # fmt: skip
            return "Failed"
        mode = group.fail.get("patch") if group else None
        if self.clock.now() < command.sent + PATCH or mode == "hang":
            return "InProgress"
        return "Failed" if mode == "fail" else "Success"

    def _compliance_view(self, job: Job) -> ComplianceView | None:
        """Patch Manager's report once a patch command succeeded: everything installed, or with the
        group's fail knob "patch": "partial", two patches failed though the command succeeded."""
        command = self._command_view(job)
        if job.phase is not Phase.PATCHING or command is None or command.status != "Success":
            return None
        group = self.groups.get(job.group)
        failed = 2 if group is not None and group.fail.get("patch") == "partial" else 0
        sent = self.commands[command.command_id].sent
        return ComplianceView(PatchCounts(14 - failed, 0, failed), "Install", ended=sent + PATCH)

    def _image_view(self, job: Job) -> ImageView | None:
        image = self.images_made.get(job.image_id or "")
        if image is None and job.image_id is None:
            wanted = naming.image_name(job.group, job.run_id)
            image = next((i for i in self.images_made.values() if i.name == wanted and not i.deregistered), None)
        if image is None or image.deregistered:
            return None
        group = self.groups.get(image.group)
        if self.clock.now() < image.created + IMAGE:
            return ImageView(image.image_id, "pending")
        if group is not None and group.fail.get("image") == "fail":
            return ImageView(image.image_id, "failed", "sandbox failure")
        return ImageView(image.image_id, "available")

    # actions ----------------------------------------------------------------------------------
    def _group(self, name: str) -> FakeGroup:
        if name not in self.groups:
            raise CloudError("ValidationError", f"AutoScalingGroup name not found - {name}")
        return self.groups[name]

    def _catch_up(self) -> None:
        """Doomed launches that are due fail now; their groups launch replacements."""
        now = self.clock.now()
        for group in self.groups.values():
            due = [i for i in self._live(group) if i.doomed and now >= i.launched + LAUNCH]
            for instance in due:
                instance.terminated = True
                group.last_failed_launch = f"Launching a new EC2 instance: {instance.instance_id}. Failed"
            if due:
                self._converge(group)

    def _converge(self, group: FakeGroup) -> None:
        live = self._live(group)
        missing = group.capacity.desired - len(live)
        for _ in range(max(0, missing)):
            doomed = group.doomed_launches > 0
            group.doomed_launches -= doomed
            group.instances.append(FakeInstance(self._id("i"), self.clock.now(), doomed=doomed))
        if missing < 0:
            for instance in [i for i in live if not i.protected][:-missing]:
                instance.terminated = True

    def _do_WriteState(self, action: WriteState) -> None:
        tags = self._group(action.job.group).tags
        tags[STATE_TAG], tags[REASON_TAG] = encode(action.job), reason_value(action.job)
        tags[SEAL_TAG] = seal(FAKE_STATE_KEY, action.job.group, tags[STATE_TAG], tags[REASON_TAG])

    def _do_ClearState(self, action: ClearState) -> None:
        if not action.lease_only:
            self._group(action.group).tags.pop(STATE_TAG, None)
            self._group(action.group).tags.pop(REASON_TAG, None)
            self._group(action.group).tags.pop(SEAL_TAG, None)
        self._group(action.group).tags.pop(LEASE_TAG, None)

    def _do_WriteLease(self, action: WriteLease) -> None:
        for name in action.groups:
            self._group(name).tags[LEASE_TAG] = lease_value(action.owner, action.expires)

    def _do_WriteResult(self, action: WriteResult) -> None:
        self._group(action.group).tags[RESULT_TAG] = action.value

    def _do_SuspendProcesses(self, action: SuspendProcesses) -> None:
        self._group(action.group).suspended |= action.processes

    def _do_ResumeProcesses(self, action: ResumeProcesses) -> None:
        group = self._group(action.group)
        group.suspended -= action.processes
        self._replace_dead(group)

    def _replace_dead(self, group: FakeGroup) -> None:
        """ReplaceUnhealthy at work: dead instances leave and the group launches replacements."""
        if "ReplaceUnhealthy" in group.suspended:
            return
        for instance in self._live(group):
            if instance.dead:
                instance.terminated = True
        self._converge(group)

    def _do_SetCapacity(self, action: SetCapacity) -> None:
        group = self._group(action.group)
        old = group.capacity
        new = Capacity(
            old.min if action.min is None else action.min,
            old.max if action.max is None else action.max,
            old.desired if action.desired is None else action.desired,
        )
        if not new.min <= new.desired <= new.max:
            raise CloudError(
                "ValidationError", f"Desired capacity:{new.desired} must be between {new.min} and {new.max}"
            )
        group.capacity = new
        self._converge(group)

    def _do_ProtectInstance(self, action: ProtectInstance) -> None:
        for instance in self._group(action.group).instances:
            if instance.instance_id == action.instance_id:
                instance.protected = action.protected

    def _do_TerminateInstance(self, action: TerminateInstance) -> None:
        for group in self.groups.values():
            for instance in self._live(group):
                if instance.instance_id == action.instance_id:
                    instance.terminated = True
                    if action.decrement:
                        group.capacity = replace(group.capacity, desired=group.capacity.desired - 1)
                    self._converge(group)
                    return
        raise CloudError("ValidationError", f"Instance {action.instance_id} is not in a group")

    def _kill_before(self, group: FakeGroup, instance_id: str, call: str, code: str) -> None:
        if group.fail.get("kill") == f"before-{call}" and not group.killed:
            group.killed += 1
            next(i for i in group.instances if i.instance_id == instance_id).dead = True
            self._replace_dead(group)
        if any(i.instance_id == instance_id and i.dead for i in group.instances):
            raise CloudError(code, f"Instances [[{instance_id}]] not in a valid state", call)

    def _do_SendPatchCommand(self, action: SendPatchCommand) -> str:
        group = next(g for g in self.groups.values() if any(i.instance_id == action.instance_id for i in g.instances))
        self._kill_before(group, action.instance_id, "send", "InvalidInstanceId")
        protected = any(i.protected for i in group.instances if i.instance_id == action.instance_id)
        command = FakeCommand(self._id("cmd"), action.instance_id, group.name, action.comment, self.clock.now(),
                              protected=protected)  # fmt: skip
        self.commands[command.command_id] = command
        if group.killed < {"once": 1, "twice": 2}.get(group.fail.get("kill", ""), 0):
            group.killed += 1
            next(i for i in group.instances if i.instance_id == action.instance_id).dead = True
            self._replace_dead(group)
        return command.command_id

    def _do_CancelCommand(self, action: CancelCommand) -> None:
        self.commands[action.command_id].cancelled = True

    def _do_CreateImage(self, action: CreateImage) -> str:
        if any(i.name == action.name and not i.deregistered for i in self.images_made.values()):
            raise CloudError("InvalidAMIName.Duplicate", f"AMI name {action.name} is already in use")
        group = next(g for g in self.groups.values() if any(i.instance_id == action.instance_id for i in g.instances))
        self._kill_before(group, action.instance_id, "image", "IncorrectInstanceState")
        image = FakeImage(self._id("ami"), action.name, group.name, self.clock.now())
        self.images_made[image.image_id] = image
        return image.image_id

    def _do_DeregisterImage(self, action: DeregisterImage) -> None:
        if action.image_id in self.images_made:
            self.images_made[action.image_id].deregistered = True

    def _do_CreateTemplateVersion(self, action: CreateTemplateVersion) -> int:
        template = self.templates[action.template_id]
        if action.source_version not in template.images:
            raise CloudError("InvalidLaunchTemplateId.VersionNotFound", f"version {action.source_version} not found")
        number = max(template.images) + 1
        template.images[number] = action.image_id
        template.descriptions[number] = action.description
        template.data[number] = dict(template.data_of(action.source_version))  # SourceVersion, ImageId replaced
        return number

    def _do_SetDefaultVersion(self, action: SetDefaultVersion) -> None:
        self.templates[action.template_id].default = action.version

    def _do_UseTemplateVersion(self, action: UseTemplateVersion) -> None:
        self._group(action.group).version = str(action.version)

    # queries for tests ------------------------------------------------------------------------
    def image_in_use(self, name: str) -> str:
        group = self.groups[name]
        template = self.templates[group.template_id or ""]
        version = {"$Default": template.default, "$Latest": max(template.images)}.get(group.version)
        return template.images[version if version is not None else int(group.version)]
