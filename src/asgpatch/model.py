"""The engine's plain data: what a group looks like, what a job remembers, what an action asks for.

Nothing here imports boto3. `decide` turns (Job, Observation, Settings) into (Job, actions — actions.py);
the `aws` package turns actions into API calls and API answers into Observations.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum


class Phase(StrEnum):
    PENDING = "pending"
    PREPARING = "preparing"
    LAUNCHING = "launching"
    WAITING_INSTANCE = "waiting-instance"
    PATCHING = "patching"
    IMAGING = "imaging"
    UPDATING_TEMPLATE = "updating-template"
    RESTORING = "restoring"
    DONE = "done"


class Outcome(StrEnum):
    PATCHED = "patched"
    FAILED = "failed"
    SKIPPED = "skipped"


# Processes suspended while the patch instance is up, and why (docs/patch-cycle.md):
#   ScheduledActions   a schedule must not resize the group mid-patch (it would undo our capacity)
#   AZRebalance        rebalancing may terminate the patch instance
#   ReplaceUnhealthy   a patch reboot may fail a status check and get the instance replaced
#   AddToLoadBalancer  the patch instance must take no traffic (AWS never registers instances
#                      launched while it is suspended)
#   InstanceRefresh    a refresh would replace the patch instance
ISOLATING_PROCESSES = frozenset(
    {"ScheduledActions", "AZRebalance", "ReplaceUnhealthy", "AddToLoadBalancer", "InstanceRefresh"}
)


@dataclass(frozen=True)
class Capacity:
    min: int
    max: int
    desired: int

    def __str__(self) -> str:
        return f"{self.min}/{self.max}/{self.desired}"


@dataclass(frozen=True)
class TemplateSpec:
    """How a group names a launch template: `version` is a number, "$Latest" or "$Default"."""

    template_id: str
    version: str = "$Default"


@dataclass(frozen=True)
class TemplateRef:
    """The template a group launches from; in a MixedInstancesPolicy also the overrides' templates
    (another template, or another version of the same one), each once, the main one left out."""

    main: TemplateSpec
    mixed_policy: bool = False
    overrides: tuple[TemplateSpec, ...] = ()

    @property
    def specs(self) -> tuple[TemplateSpec, ...]:
        return (self.main, *self.overrides)


@dataclass(frozen=True)
class InstanceView:
    instance_id: str
    lifecycle: str  # Auto Scaling lifecycle state: Pending, InService, Standby, Terminating...
    protected: bool = False
    ec2_state: str | None = None  # pending, running, ...; None when EC2 did not describe it
    launch_time: float | None = None
    ssm_ping: str | None = None  # Online, ConnectionLost...; None when not a managed node
    image_id: str | None = None  # the AMI EC2 says it runs; None when EC2 did not describe it


@dataclass(frozen=True)
class GroupView:
    name: str
    capacity: Capacity
    tags: Mapping[str, str] = field(default_factory=dict)
    suspended: frozenset[str] = frozenset()
    instances: tuple[InstanceView, ...] = ()
    template: TemplateRef | None = None
    launch_configuration: str | None = None
    failed_launch: str | None = None  # newest failed scaling activity's message, if any
    target_groups: tuple[str, ...] = ()  # TargetGroupARNs
    load_balancers: tuple[str, ...] = ()  # Classic Load Balancer names
    warm_pool: bool = False  # it has a warm pool (WarmPoolConfiguration)

    def instance(self, instance_id: str | None) -> InstanceView | None:
        return next((i for i in self.instances if i.instance_id == instance_id), None)


@dataclass(frozen=True)
class LaunchHook:
    """A launch lifecycle hook: it holds each new instance in Pending:Wait until its action ends."""

    name: str
    heartbeat_timeout: int  # seconds; then DefaultResult
    default_result: str  # CONTINUE or ABANDON

    def __str__(self) -> str:
        return f"{self.name} (heartbeat timeout {self.heartbeat_timeout} s, then {self.default_result})"


@dataclass(frozen=True)
class WarmInstance:
    """An instance in the group's warm pool, and the image it was launched with."""

    instance_id: str
    lifecycle: str  # Warmed:Pending, Warmed:Stopped, Warmed:Terminating...
    image_id: str | None = None  # None when EC2 did not describe it


@dataclass(frozen=True)
class TemplateView:
    template_id: str
    name: str
    default_version: int
    latest_version: int
    images: Mapping[int, str] = field(default_factory=dict)  # version number -> the AMI it launches, where read
    aliases: Mapping[int, str] = field(default_factory=dict)  # version number -> its `resolve:ssm:` ImageId
    # version a new version was made from -> the newest version this run made from it (the natural key:
    # its description names the run and the source); with the job's image when the job knows it
    run_versions: Mapping[int, int] = field(default_factory=dict)

    def resolve(self, spec: str) -> int:
        if spec == "$Latest":
            return self.latest_version
        if spec == "$Default":
            return self.default_version
        return int(spec)


@dataclass(frozen=True)
class CommandView:
    command_id: str
    status: str  # the patch instance's invocation status: Pending, InProgress, Success, Failed...
    detail: str = ""


@dataclass(frozen=True)
class PatchCounts:
    """A node's patches after AWS-RunPatchBaseline, as Patch Manager reports them."""

    installed: int  # installed, pending a reboot included
    missing: int
    failed: int

    def __str__(self) -> str:
        return f"{self.installed} installed, {self.missing} missing, {self.failed} failed"


@dataclass(frozen=True)
class ComplianceView:
    """DescribeInstancePatchStates for the patch instance: its latest Scan or Install."""

    counts: PatchCounts
    operation: str  # Install or Scan
    ended: float | None = None  # OperationEndTime, epoch seconds


@dataclass(frozen=True)
class ScheduledAction:
    """One of a group's scheduled actions (DescribeScheduledActions)."""

    name: str
    recurrence: str | None = None  # five-field cron, in `time_zone` (UTC when unset)
    start: float | None = None  # epoch seconds
    end: float | None = None
    time_zone: str | None = None
    min: int | None = None
    max: int | None = None
    desired: int | None = None


@dataclass(frozen=True)
class ImageView:
    image_id: str
    state: str  # pending, available, failed...
    reason: str = ""
    created: float | None = None  # CreationDate, epoch seconds


@dataclass(frozen=True)
class Observation:
    """Everything one tick read about one group (None: not there / not looked up)."""

    now: float
    group: GroupView | None
    templates: Mapping[str, TemplateView] = field(default_factory=dict)
    command: CommandView | None = None
    image: ImageView | None = None
    compliance: ComplianceView | None = None  # the patch instance's, once its command succeeded
    scheduled: tuple[ScheduledAction, ...] = ()  # the group's scheduled actions, while it is restored
    # target group ARN or "elb:<name>" -> the instances registered with it, while the group is restored
    registered: Mapping[str, frozenset[str]] = field(default_factory=dict)
    bake: Job | None = None  # the job of the group whose bake this one shares, as the run knows it now
    launch_hooks: tuple[LaunchHook, ...] = ()  # while launching, once an instance waits in Pending:Wait
    warm: tuple[WarmInstance, ...] | None = None  # the warm pool's, as the group is taken in and restored


@dataclass(frozen=True)
class Settings:
    tag_key: str = "ep:asg:patch"
    tag_value: str = "true"
    operation: str = "Install"
    reboot_option: str = "RebootIfNeeded"
    no_reboot: bool = True
    launch_timeout: float = 15 * 60
    ssm_timeout: float = 15 * 60
    patch_timeout: float = 120 * 60
    image_timeout: float = 90 * 60
    launch_skew: float = 300.0  # how much earlier than our scale-up a patch instance's LaunchTime may read
    lease_seconds: float = 300.0  # a run that stops heartbeating loses its groups after this long
    deadline: float | None = None  # no group starts after this (epoch seconds), e.g. the window's end
    compliance: str = "required"  # required | report: when the Install leaves patches missing or failed


@dataclass(frozen=True)
class Job:
    """One group's progress. The fields `encode`d in state.py live in the group's `asgpatch:state` tag."""

    group: str
    run_id: str
    phase: Phase = Phase.PENDING
    phase_started: float = 0.0
    original: Capacity | None = None
    was_suspended: frozenset[str] = frozenset()
    we_suspended: frozenset[str] = frozenset()
    launch_requested: float | None = None
    instance_id: str | None = None
    ready_at: float | None = None  # when the instance was first seen InService and running
    command_id: str | None = None
    image_id: str | None = None
    source_image: str | None = None
    template_id: str | None = None
    source_version: int | None = None
    new_version: int | None = None
    outcome: Outcome | None = None
    reason: str = ""
    relaunches: int = 0  # patch instances launched again after someone terminated one
    isolated_since: float | None = None  # when asgpatch suspended the isolating processes
    patches: PatchCounts | None = None  # the patch instance's compliance after the Install
    decremented: bool = False  # the restore took the patch instance out of a running group, desired with it
    preexisting: frozenset[str] = frozenset()  # instances before our scale-up (in the tag until in service)
    owner: str = ""  # the run driving the job now: it may resume a stopped run's job (memory only)
    claimed: bool = False  # this run has written its lease on the group (memory only)
    salvaged_from: str | None = None  # the unreadable state tag this job was pieced together from (memory only)
    partly_read: bool = False  # ...and not all a restore needs could be read from it (memory only)
    # The group that bakes the image this one will launch: one bake per template version and run. This
    # group brings up no instance of its own; it is pointed at that bake's version (memory only).
    bake_with: str | None = None
    region: str = ""  # the shard the group lives in: a group is (account, region, name) (memory only)
    account: str = ""
    failures: int = 0  # this job's steps that failed in a row, an input of decide (failures.py; memory only)
    last_error: str = ""  # the error of the last of them (memory only)

    def at(self, phase: Phase, now: float, **changes: object) -> Job:
        return replace(self, phase=phase, phase_started=now, **changes)  # type: ignore[arg-type]

    @property
    def driver(self) -> str:
        return self.owner or self.run_id

    @property
    def done(self) -> bool:
        return self.phase is Phase.DONE

    @property
    def was_at_zero(self) -> bool:
        return self.original is not None and self.original.desired == 0
