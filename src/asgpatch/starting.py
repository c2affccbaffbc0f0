"""How a run starts in each of its shards: discovery, the estate around the groups, intake."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from asgpatch.clock import Clock
from asgpatch.cloud import Cloud, Discovery
from asgpatch.config import RunConfig
from asgpatch.model import GroupView
from asgpatch.planning import Estate, Intake, take_in
from asgpatch.report import GroupResult
from asgpatch.shards import Shard, as_shards


class UsageError(Exception):
    """Bad input found while reading the account (e.g. an --asg name that does not exist)."""


@dataclass(frozen=True)
class Started:
    run_id: str
    started_at: float
    discovery: Discovery
    intake: Intake
    estate: Estate = field(default_factory=Estate)
    region: str = ""  # the shard it started in
    account: str = ""


def start(cloud: Cloud | Shard, config: RunConfig, run_id: str, clock: Clock) -> Started:
    """Intake in one shard (a bare Cloud is a shard of its own). Every job is stamped with its shard."""
    shard = cloud if isinstance(cloud, Shard) else as_shards(cloud)[0]
    cloud = shard.cloud
    started_at = clock.now()
    settings = config.settings
    discovery = cloud.discover(settings.tag_key, settings.tag_value, config.asg_names)
    if discovery.missing:
        names = ", ".join(discovery.missing)
        where = f"in {shard.region}" if shard.region else "in this account and region"
        raise UsageError(f"no Auto Scaling group named {names} {where}")
    in_flight = cloud.in_flight(config.asg_names)
    estate = read_estate(cloud, [*discovery.groups, *in_flight])
    intake = take_in(discovery, run_id, settings, in_flight, started_at, estate, trusts=cloud.trusts)
    stamped = tuple(replace(job, region=shard.region, account=shard.account) for job in intake.jobs)
    return Started(run_id, started_at, discovery, replace(intake, jobs=stamped), estate, shard.region, shard.account)


def start_all(shards: Sequence[Shard], config: RunConfig, run_id: str, clock: Clock) -> tuple[Started, ...]:
    """Intake in every shard before anything is changed in any. With several regions an --asg name need
    only exist in one of them (each shard is narrowed to the names it has); one found in none is bad usage."""
    if len(shards) == 1 or not config.asg_names:
        return tuple(start(shard, config, run_id, clock) for shard in shards)
    settings = config.settings
    present = [set(config.asg_names) - set(shard.cloud.discover(settings.tag_key, settings.tag_value,
                                                                config.asg_names).missing)
               for shard in shards]  # fmt: skip
    missing = [name for name in config.asg_names if not any(name in found for found in present)]
    if missing:
        raise UsageError(f"no Auto Scaling group named {', '.join(missing)} in {', '.join(map(str, shards))}")
    return tuple(
        start(shard, replace(config, asg_names=tuple(n for n in config.asg_names if n in found)), run_id, clock)
        for shard, found in zip(shards, present, strict=True)
        if found
    )


def read_estate(cloud: Cloud, groups: Sequence[GroupView]) -> Estate:
    """The templates the run's groups name, and every group in the region naming them (a few batched
    reads; nothing when there is nothing to patch)."""
    if not groups:
        return Estate()
    templates = cloud.template_views(groups)
    return Estate(templates, cloud.template_users(sorted(templates)) if templates else ())


def not_taken(started: Started, refused: str = "failed") -> list[GroupResult]:
    """Groups the run did not take on: skipped, and those in flight that are unsafe to touch (a run
    reports them failed, since they need an operator; a plan, which changes nothing, skipped)."""
    listed = [("skipped", group, reason) for group, reason in started.intake.skipped]
    listed += [(refused, group, reason) for group, reason in started.intake.refused]
    return [GroupResult(group.name, status, reason, capacity=group.capacity, account=started.account or None,
                        region=started.region or None) for status, group, reason in listed]  # fmt: skip
