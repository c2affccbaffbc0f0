"""Run Command over time: each invocation starts when a slot frees, and ends when its run is done.

Each targeted node's invocation is delivered (InProgress) a moment after the command, and ends
`patch_seconds` later; MaxConcurrency and MaxErrors apply. Group tags `sandbox:patch=fail` /
`sandbox:patch=hang` make every command on the group's instances fail / never finish (until
cancelled or the execution timeout). A node terminated meanwhile is `Undeliverable`.
Commands are dropped with moto's SSM backend when moto is reset.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from asgpatch_sandbox.services.os_patch_catalog import PatchCatalog, instance_level
from asgpatch_sandbox.services.ssm_commands import DELIVERY_SECONDS, Command, CommandStore, Invocation, end
from asgpatch_sandbox.services.ssm_documents import RUN_PATCH_BASELINE, ensure_aws_documents, execution_timeout
from asgpatch_sandbox.services.ssm_patch_compliance import apply_patch_baseline
from asgpatch_sandbox.world import World, instance_group


@dataclass
class SsmWorld:
    world: World
    stores: dict[str, CommandStore] = field(default_factory=dict)

    def store(self, region: str) -> CommandStore:
        """The region's command store; a new one after moto was reset (its backend replaced)."""
        backend = self.world.ssm(region)
        store = self.stores.get(region)
        if store is None or store.backend is not backend:
            store = self.stores[region] = CommandStore(backend)
        return store

    def advance(self, region: str, now: float) -> None:
        try:
            store = self.store(region)
        except KeyError:  # a signed request named a region moto does not know: nothing runs there
            return
        ensure_aws_documents(store.backend)
        for command in list(store.active.values()):
            self.run(command, now)
            if command.done:
                del store.active[command.command_id]

    # the life of a command ------------------------------------------------------------------
    def run(self, command: Command, now: float) -> None:
        """Replay what happened to the command up to `now`, event by event in time order, so that
        slots freed by finished runs start the next ones at the right moment. A node that is gone
        now left before its run could end (instances only change during requests, each preceded
        by an advance), so its invocation is Undeliverable whatever the clock says."""
        for inv in command.invocations:
            if inv.final is None and inv.instance.state != "running":
                end(inv, ("Failed", "Undeliverable"), now, -1, stderr="The managed node is no longer available.")
        while True:
            due = [i for i in command.invocations if i.final is None and i.end_at is not None and i.end_at <= now]
            if not due:
                break
            first = min(due, key=lambda i: i.end_at or 0.0)
            at = float(first.end_at or now)
            self.finish(command, first, at)
            self.dispatch(command, at)
        self.dispatch(command, now)

    def dispatch(self, command: Command, at: float) -> None:
        """Hand waiting invocations to free slots, or stop sending once MaxErrors is exceeded."""
        waiting = [i for i in command.invocations if i.final is None and not i.started]
        stop = command.errors() > command.error_limit
        deadline = command.requested + command.timeout_seconds
        for inv in waiting:
            if stop:
                end(inv, ("Cancelled", "Terminated"), at, -1)
            elif at >= deadline:
                end(inv, ("TimedOut", "DeliveryTimedOut"), deadline, -1)
        running = sum(1 for i in command.invocations if i.final is None and i.started)
        for inv in [i for i in waiting if i.final is None][: max(0, command.concurrency - running)]:
            self.start(command, inv, at)

    def start(self, command: Command, inv: Invocation, at: float) -> None:
        timings = self.world.timings
        delivery = min(DELIVERY_SECONDS, timings.patch_seconds / 10)
        inv.start_at = at + delivery
        limit = execution_timeout(command.document, command.parameters)
        duration = max(0.0, timings.patch_seconds - delivery)
        if inv.fault == "hang" or duration > limit:
            inv.end_at, inv.outcome = inv.start_at + limit, "TimedOut"
        else:
            inv.end_at, inv.outcome = inv.start_at + duration, "Failed" if inv.fault == "fail" else "Success"
        ec2_backend = self.world.ec2(command.region)
        inv.level_before = instance_level(ec2_backend, inv.instance)
        inv.level_target = self.world.part(PatchCatalog).level

    def finish(self, command: Command, inv: Invocation, at: float) -> None:
        if inv.outcome == "TimedOut":
            end(inv, ("TimedOut", "ExecutionTimedOut"), at, -1, stderr="Command execution timed out.")
            return
        failed = inv.outcome == "Failed"
        stdout, stderr = "", ""
        if failed:
            group = instance_group(inv.instance)
            name = group.name if group is not None else "?"
            stderr = f"The sandbox failed this command: Auto Scaling group {name} has the tag sandbox:patch=fail."
        if command.document_name == RUN_PATCH_BASELINE:
            stdout = apply_patch_baseline(self.world, command, inv, at, failed)
        end(inv, ("Failed", "Failed") if failed else ("Success", "Success"), at, 1 if failed else 0, stdout, stderr)
