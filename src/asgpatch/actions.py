"""What `decide` asks the adapter to do, in order: one plain value per side effect.

The `aws` package turns each into API calls (aws/write.py); nothing here imports boto3.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from asgpatch.model import Job


@dataclass(frozen=True)
class WriteState:
    """Record the job on the group (asgpatch:state) before the side effects that follow."""

    job: Job


@dataclass(frozen=True)
class WriteLease:
    """asgpatch:lease on these groups: `owner` holds them until `expires` (a claim, or a heartbeat)."""

    groups: tuple[str, ...]
    owner: str
    expires: float


@dataclass(frozen=True)
class ClearState:
    """Remove the group's lease and, unless `lease_only`, its asgpatch:state tag."""

    group: str
    lease_only: bool = False


@dataclass(frozen=True)
class WriteResult:
    group: str
    value: str  # asgpatch:last-result


@dataclass(frozen=True)
class SuspendProcesses:
    group: str
    processes: frozenset[str]


@dataclass(frozen=True)
class ResumeProcesses:
    group: str
    processes: frozenset[str]


@dataclass(frozen=True)
class SetCapacity:
    group: str
    min: int | None = None
    max: int | None = None
    desired: int | None = None


@dataclass(frozen=True)
class ProtectInstance:
    group: str
    instance_id: str
    protected: bool


@dataclass(frozen=True)
class TerminateInstance:
    """TerminateInstanceInAutoScalingGroup: the patch instance leaves, optionally lowering desired."""

    instance_id: str
    decrement: bool


def elb_target(name: str) -> str:
    """How a Classic Load Balancer is named beside target group ARNs (Observation.registered)."""
    return f"elb:{name}"


@dataclass(frozen=True)
class RegisterInstances:
    """Register instances with the group's target groups and Classic Load Balancers: Auto Scaling does
    not add those it launched while AddToLoadBalancer was suspended, even once it is resumed."""

    group: str
    instance_ids: tuple[str, ...]
    target_groups: tuple[str, ...] = ()
    load_balancers: tuple[str, ...] = ()


@dataclass(frozen=True)
class SendPatchCommand:
    instance_id: str
    operation: str
    reboot_option: str
    comment: str  # names the run and group: the natural key a resumed run looks for
    timeout_seconds: int


@dataclass(frozen=True)
class CancelCommand:
    command_id: str
    instance_id: str


@dataclass(frozen=True)
class CreateImage:
    instance_id: str
    name: str  # names the group and run: the natural key (AMI names are unique per region)
    description: str
    no_reboot: bool
    tags: Mapping[str, str]


@dataclass(frozen=True)
class DeregisterImage:
    image_id: str


@dataclass(frozen=True)
class CreateTemplateVersion:
    template_id: str
    source_version: int
    image_id: str
    description: str  # names the run: the natural key


@dataclass(frozen=True)
class SetDefaultVersion:
    template_id: str
    version: int


@dataclass(frozen=True)
class UseTemplateVersion:
    """Point the group's specification `current` of `template_id` (its LaunchTemplate, or in its
    MixedInstancesPolicy every specification naming that template and version) at `version`."""

    group: str
    template_id: str
    version: int
    mixed_policy: bool
    current: str = ""  # the version as the specification names it now ("1", "$Default"); "" for any


Action = (
    WriteState
    | ClearState
    | WriteLease
    | WriteResult
    | SuspendProcesses
    | ResumeProcesses
    | SetCapacity
    | ProtectInstance
    | TerminateInstance
    | RegisterInstances
    | SendPatchCommand
    | CancelCommand
    | CreateImage
    | DeregisterImage
    | CreateTemplateVersion
    | SetDefaultVersion
    | UseTemplateVersion
)


def describe(action: Action) -> str:
    """One action in words, as `plan` prints it."""
    match action:
        case WriteState(job=job):
            why = f" ({job.outcome.value}: {job.reason})" if job.outcome is not None and job.reason else ""
            return f"record {job.phase.value}{why} in asgpatch:state"
        case WriteLease(groups=groups, owner=owner, expires=expires):
            until = datetime.fromtimestamp(expires, tz=UTC).strftime("%H:%M:%SZ")
            where = "" if len(groups) == 1 else f" on {len(groups)} groups"
            return f"claim asgpatch:lease{where} for run {owner} until {until}"
        case ClearState(lease_only=True):
            return "give back asgpatch:lease"
        case ClearState():
            return "remove asgpatch:state and asgpatch:lease"
        case WriteResult(value=value):
            return f"record asgpatch:last-result {value}"
        case SuspendProcesses(processes=processes) | ResumeProcesses(processes=processes):
            verb = "suspend" if isinstance(action, SuspendProcesses) else "resume"
            return f"{verb} {', '.join(sorted(processes))}"
        case SetCapacity(min=low, max=high, desired=desired):
            sizes = "/".join("-" if size is None else str(size) for size in (low, high, desired))
            return f"set min/max/desired to {sizes}"
        case ProtectInstance(instance_id=instance, protected=protected):
            return f"{'protect' if protected else 'unprotect'} {instance} from scale-in"
        case TerminateInstance(instance_id=instance, decrement=decrement):
            return f"terminate {instance} ({'lowering' if decrement else 'keeping'} desired)"
        case RegisterInstances(instance_ids=instances, target_groups=targets, load_balancers=balancers):
            return f"register {', '.join(instances)} with {', '.join((*targets, *balancers))}"
        case SendPatchCommand(instance_id=instance, operation=operation, reboot_option=reboot):
            return f"run AWS-RunPatchBaseline ({operation}, {reboot}) on {instance}"
        case CancelCommand(command_id=command, instance_id=instance):
            return f"cancel command {command} on {instance}"
        case CreateImage(instance_id=instance, name=name, no_reboot=no_reboot):
            return f"create image {name} from {instance}{' without a reboot' if no_reboot else ''}"
        case DeregisterImage(image_id=image):
            return f"deregister {image} and delete its snapshots"
        case CreateTemplateVersion(template_id=template, source_version=source, image_id=image):
            return f"create a version of {template} from version {source} with {image}"
        case SetDefaultVersion(template_id=template, version=version):
            return f"make version {version} of {template} its default"
        case UseTemplateVersion(template_id=template, version=version, mixed_policy=mixed):
            return (
                f"point the group at version {version} of {template}{' in its MixedInstancesPolicy' if mixed else ''}"
            )
    raise AssertionError(f"no words for {action!r}")
