"""A run covers one or more shards — an (account, region) and the Cloud that reaches it — and a group is
(account, region, name) everywhere: the same name in two regions is two groups.

Each shard is ticked by an engine of its own over the jobs of that shard (tick.py keys by name, which is
unique within a shard); the run state, the report and the plan put the shards' jobs and lines together,
each carrying its account and region.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from asgpatch.cloud import Cloud
from asgpatch.model import Job


@dataclass(frozen=True)
class Shard:
    cloud: Cloud
    region: str = ""
    account: str = ""

    @property
    def key(self) -> tuple[str, str]:
        return (self.account, self.region)

    def holds(self, job: Job) -> bool:
        """Whether the job's group lives here (where either side does not know the account, on the region)."""
        return job.region == self.region and (not job.account or not self.account or job.account == self.account)

    def __str__(self) -> str:
        return f"{self.account}/{self.region}" if self.account else self.region or "the default region"


def as_shards(cloud: Cloud | Sequence[Shard]) -> tuple[Shard, ...]:
    """The shards a run covers: a single Cloud is one shard (its region and account when it knows them)."""
    if isinstance(cloud, Sequence):
        return tuple(cloud)
    return (Shard(cloud, str(getattr(cloud, "region", "") or ""), str(getattr(cloud, "account", "") or "")),)


def shard_of(job: Job, shards: Sequence[Shard]) -> Shard:
    for shard in shards:
        if shard.holds(job):
            return shard
    if len(shards) == 1 and not job.region:
        return shards[0]  # a job recorded before runs knew their shards
    raise LookupError(f"group {job.group} is in {job.account or '?'}/{job.region or '?'}, not in this run's shards")


def notifier(shards: Sequence[Shard], topic_arn: str) -> Cloud:
    """The shard that publishes to an SNS topic: SNS answers for a topic only in the topic's own region
    (its ARN's fourth field); when that is none of the run's, the first."""
    parts = topic_arn.split(":")
    region = parts[3] if len(parts) > 3 else ""
    return next((shard.cloud for shard in shards if shard.region == region), shards[0].cloud)
