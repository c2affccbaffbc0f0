"""Launch lifecycle hooks as Auto Scaling runs them; moto stores hooks and never applies them.

On AWS (and here) a group with an `autoscaling:EC2_INSTANCE_LAUNCHING` hook puts each instance it
launches — new, or taken from its warm pool — in `Pending:Wait` once EC2 runs it, one lifecycle action
(with its own token) per hook. The instance stays there, running and counting toward desired
capacity but not in service (no load balancer, no health check), until every action is completed:
- CompleteLifecycleAction (by token or instance id) with CONTINUE: when all are, `Pending:Proceed`
  and then `InService`; with ABANDON: the launch fails, the instance is terminated and the group
  launches another;
- RecordLifecycleActionHeartbeat restarts the action's heartbeat timeout;
- the heartbeat timeout (HeartbeatTimeout, default 3600 s) passing applies the hook's DefaultResult
  (default ABANDON), as does the global timeout: 48 hours or 100 heartbeat timeouts, the smaller.
The owner's automation (a Lambda behind EventBridge, a script on the instance) is not there on the
sandbox; a group tag stands in for it: `sandbox:lifecycle-action=continue:N` (or `abandon:N`) completes
each of the group's launch actions N sandbox seconds after it begins. Without it, only a client's own
CompleteLifecycleAction, or the timeout, ends the wait.
Termination hooks are stored but not applied (instances leave at once, as before).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from moto.autoscaling import models as asg_models
from moto.autoscaling.exceptions import ValidationError
from moto.core.responses import ActionResult, EmptyResult

from asgpatch_sandbox.override import original
from asgpatch_sandbox.services.autoscaling_activities import ScalingActivities
from asgpatch_sandbox.world import World, current, group_failure

LAUNCHING = "autoscaling:EC2_INSTANCE_LAUNCHING"
TERMINATING = "autoscaling:EC2_INSTANCE_TERMINATING"
GLOBAL_TIMEOUT_CAP = 48 * 3600.0
RESULTS = ("CONTINUE", "ABANDON")


@dataclass
class Action:
    """One hook's lifecycle action on one instance."""

    hook: str
    token: str
    default_result: str
    heartbeat: float
    began: float
    deadline: float  # the heartbeat timeout, restarted by RecordLifecycleActionHeartbeat
    global_deadline: float
    result: str | None = None
    why: str = ""

    def settle(self, now: float, automation: tuple[str, float] | None) -> None:
        """Decide the action from whatever came first up to `now`: the owner's automation or a timeout."""
        if self.result is not None:
            return
        ends = [(min(self.deadline, self.global_deadline), self.default_result, "Heartbeat Timeout")]
        if automation is not None:
            ends.append(
                (self.began + automation[1], automation[0], f"Lifecycle Action Completed with {automation[0]} Result")
            )
        at, result, why = min(ends)
        if at <= now:
            self.result, self.why = result, why


@dataclass
class Held:
    region: str
    group_name: str
    instance_id: str
    activity: dict[str, Any]
    actions: list[Action] = field(default_factory=list)


def launch_hooks(group: Any) -> list[Any]:
    """The group's launch lifecycle hooks (moto's LifecycleHook objects), by name."""
    hooks = group.autoscaling_backend.lifecycle_hooks.values()
    return sorted(
        (h for h in hooks if h.auto_scaling_group_name == group.name and h.lifecycle_transition == LAUNCHING),
        key=lambda h: h.name,
    )


def _automation(group: Any) -> tuple[str, float] | None:
    """The stand-in for the owner's automation: `sandbox:lifecycle-action=continue:N|abandon:N`."""
    value = group_failure(group, "lifecycle-action")
    if not value:
        return None
    result, _, seconds = value.partition(":")
    try:
        return result.upper(), float(seconds or 0)
    except ValueError:
        return None


@dataclass
class HookWorld:
    """Instances held in Pending:Wait, until their actions are completed or time out."""

    world: World
    held: dict[str, Held] = field(default_factory=dict)

    def hold(self, region: str, group: Any, state: Any, activity: dict[str, Any], now: float) -> None:
        state.lifecycle_state = "Pending:Wait"
        entry = Held(region, group.name, state.instance.id, activity)
        for hook in launch_hooks(group):
            heartbeat = float(hook.heartbeat_timeout)
            cap = min(GLOBAL_TIMEOUT_CAP, 100 * heartbeat)
            entry.actions.append(
                Action(hook.name, str(uuid.uuid4()), hook.default_result, heartbeat, now, now + heartbeat, now + cap)
            )
        self.held[state.instance.id] = entry

    def advance(self, region: str, now: float) -> None:
        for entry in [e for e in self.held.values() if e.region == region]:
            self._settle(entry, now)

    def _settle(self, entry: Held, now: float) -> None:
        group = self.world.autoscaling(entry.region).autoscaling_groups.get(entry.group_name)
        state = _find(group, entry.instance_id)
        activities = self.world.part(ScalingActivities)
        if state is None or state.lifecycle_state != "Pending:Wait" or state.instance.state != "running":
            del self.held[entry.instance_id]  # it left meanwhile (scale-in, terminated through EC2)
            activities.finish(entry.activity, "Cancelled", "The instance left the group while in Pending:Wait.")
            return
        automation = _automation(group)
        for action in entry.actions:
            action.settle(now, automation)
        abandoned = next((a for a in entry.actions if a.result == "ABANDON"), None)
        if abandoned is not None:
            del self.held[entry.instance_id]
            message = (
                "Instance failed to complete user's Lifecycle Action: Lifecycle Action with token "
                f"{abandoned.token} was abandoned: {abandoned.why}"
            )
            activities.finish(entry.activity, "Failed", message)
            group.instance_states = [s for s in group.instance_states if s is not state]
            self.world.ec2(entry.region).terminate_instances([entry.instance_id])
            group.set_desired_capacity(group.desired_capacity)  # Auto Scaling launches another
        elif all(a.result == "CONTINUE" for a in entry.actions):
            del self.held[entry.instance_id]
            state.lifecycle_state = "InService"  # through Pending:Proceed, which nothing here waits on
            activities.finish(entry.activity, "Successful")

    def find(self, group_name: str, hook: str, token: str | None, instance_id: str | None) -> Action:
        for entry in self.held.values():
            if entry.group_name != group_name or (instance_id and entry.instance_id != instance_id):
                continue
            for action in entry.actions:
                if action.hook == hook and action.result is None and (not token or action.token == token):
                    return action
        if token:
            raise ValidationError(f"No active Lifecycle Action found with token {token}")
        raise ValidationError(f"No active Lifecycle Action found with instance ID {instance_id}")

    def instance_of(self, action: Action) -> Held:
        return next(e for e in self.held.values() if action in e.actions)


def _find(group: Any, instance_id: str) -> Any:
    if group is None:
        return None
    return next((s for s in group.instance_states if s.instance.id == instance_id), None)


def _hooks() -> HookWorld:
    world = current()
    world.advance()
    return world.part(HookWorld)


def _lookup(response: Any) -> tuple[HookWorld, Action]:
    token = response._get_param("LifecycleActionToken")
    instance_id = response._get_param("InstanceId")
    if not token and not instance_id:
        raise ValidationError("Either LifecycleActionToken or InstanceId must be specified.")
    hooks = _hooks()
    action = hooks.find(
        response._get_param("AutoScalingGroupName"), response._get_param("LifecycleHookName"), token, instance_id
    )
    return hooks, action


def complete_lifecycle_action(self: Any) -> ActionResult:
    result = self._get_param("LifecycleActionResult")
    if result not in RESULTS:
        raise ValidationError(f"Invalid lifecycle action result: {result}; expected CONTINUE or ABANDON")
    hooks, action = _lookup(self)
    action.result, action.why = result, f"Lifecycle Action Completed with {result} Result"
    hooks._settle(hooks.instance_of(action), hooks.world.clock.now())
    return EmptyResult()


def record_lifecycle_action_heartbeat(self: Any) -> ActionResult:
    hooks, action = _lookup(self)
    action.deadline = min(hooks.world.clock.now() + action.heartbeat, action.global_deadline)
    return EmptyResult()


def create_lifecycle_hook(self: Any, name: str, as_name: str, transition: str | None, timeout: int | None,
                          result: str | None) -> Any:  # fmt: skip
    """PutLifecycleHook, checked as AWS checks it (moto stored anything)."""
    if as_name not in self.autoscaling_groups:
        raise ValidationError(f"AutoScalingGroup name not found - AutoScalingGroup {as_name} not found")
    if transition not in (LAUNCHING, TERMINATING):
        raise ValidationError(f"Invalid Lifecycle Transition: {transition}")
    if timeout is not None and not 30 <= timeout <= 7200:
        raise ValidationError(f"Heartbeat timeout {timeout} is not between 30 and 7200 seconds")
    if result is not None and result not in RESULTS:
        raise ValidationError(f"Invalid default result: {result}")
    return original(asg_models.AutoScalingBackend, "create_lifecycle_hook")(
        self, name, as_name, transition, timeout, result
    )
