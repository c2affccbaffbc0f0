"""Connecting to every region a run covers: one shard each, its account read once, its state key read
(or created, for a command that writes state) before anything is changed."""

from __future__ import annotations

from asgpatch.aws import AwsCloud, connect
from asgpatch.config import RunConfig
from asgpatch.shards import Shard


def connect_shards(config: RunConfig, create_key: bool) -> tuple[Shard, ...]:
    """Raises SetupError (no credentials, unknown profile, unreachable endpoint, no state key)."""
    shards = []
    for region in config.regions or (None,):
        cloud = AwsCloud(connect(region, config.profile, config.endpoint_url),
                         state_key_parameter=config.state_key_parameter)  # fmt: skip
        cloud.check()
        cloud.prepare_seals(create=create_key)
        shards.append(Shard(cloud, cloud.region, cloud.account))
    return tuple(shards)
