"""What `decide` asks the adapter to do, in order: one plain value per side effect.

The `aws` package turns each into API calls (aws/write.py); nothing here imports boto3.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

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
