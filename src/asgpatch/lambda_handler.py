"""The deployed form's Lambda: one tick of the same engine per invocation, through the run's S3 state.

The state machine calls it to tick the run its execution started (and, when a tick failed for good, to
restore what the run holds); the stack's EventBridge rule calls it to restore the run of an execution
that failed, timed out or was aborted; lambda_events.py reads which. Everything else is the run's
settings, read from the function's environment (`ASGPATCH_*`, as the CLI reads them). It carries no
logic of its own: one_tick.py ticks, a retried or repeated invocation is harmless (one tick at a time
holds the run; a tick after the run is over changes nothing), and the time budget is the invocation's
remaining time less a margin. Once the run is over the report — the document `run --output json`
prints — is written beside the state, and SNS gets the messages the CLI sends (with, after a restore,
one saying the run was given up and why).
"""

from __future__ import annotations

import math
import os
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from asgpatch.aws import AwsCloud
from asgpatch.aws.run_store import S3RunStore, store_at
from asgpatch.aws.shards import connect_shards
from asgpatch.clock import WallClock
from asgpatch.config import resolve
from asgpatch.lambda_events import read
from asgpatch.one_tick import tick_once, wait_seconds
from asgpatch.report import render_json
from asgpatch.shards import notifier
from asgpatch.ticking import report_of

MINIMUM_BOTO3 = (1, 43)  # pyproject.toml's boto3 bound: DeregisterImage DeleteAssociatedSnapshots and others
MARGIN_SECONDS = 30.0  # left of the invocation's time for saving the state and answering
REPORT_SUFFIX = ".report.json"
RESTORE_PAUSE = 5.0  # seconds between the ticks of a restore (it waits on terminations and the hold)


def handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """`{"run_id", "done", "wait_seconds", "report", "counts", "dropped"}`: `report` is the report's
    s3:// location once the run is over (else null), `counts` the groups by status, `dropped` why this
    invocation's tick did nothing (another tick held the run, AWS unreadable), else null. A restore that
    could not finish in this invocation raises, so that its caller (Step Functions' Retry, Lambda's
    retries of an EventBridge invocation) calls again."""
    check_boto3()
    request = read(event, os.environ)
    config = resolve({}, os.environ)
    if request.deadline is not None:
        config = replace(config, settings=replace(config.settings, deadline=request.deadline))
    remaining = context.get_remaining_time_in_millis() / 1000.0 if context is not None else 900.0
    budget = max(1.0, remaining - MARGIN_SECONDS)
    config = replace(config, time_budget=budget)
    ends = time.monotonic() + budget
    shards = connect_shards(config, create_key=True)
    first = shards[0].cloud
    assert isinstance(first, AwsCloud)
    store = store_at(request.location, first.api)
    assert isinstance(store, S3RunStore)
    out_of_time = lambda: time.monotonic() >= ends  # noqa: E731
    clock = WallClock()
    ticked = tick_once(store, shards, config, clock, out_of_time, give_up=request.why)
    while request.why and ticked.goes_on and time.monotonic() + RESTORE_PAUSE < ends:
        clock.sleep(RESTORE_PAUSE)  # a restore is a few calls a group: finish it in this invocation
        ticked = tick_once(store, shards, config, clock, out_of_time, give_up=request.why)
    state = ticked.state
    if request.why and ticked.goes_on:
        raise RuntimeError(f"the restore of {request.location} is not finished ({ticked.dropped or 'in progress'})")
    if state is None:
        return {"run_id": None, "done": not ticked.goes_on, "wait_seconds": _whole(config.poll_seconds),
                "report": None, "counts": {}, "dropped": ticked.dropped}  # fmt: skip
    report = report_of(state)
    counts = dict(Counter(group["status"] for group in report["groups"]))
    where = None
    if state.done and ticked.dropped is None:
        where = store.write_beside(REPORT_SUFFIX, render_json(report).encode())
        if config.sns_topic_arn:
            from asgpatch.notify import notify

            notify(notifier(shards, config.sns_topic_arn), config.sns_topic_arn, report, given_up=request.why)
    return {"run_id": state.run_id, "done": not ticked.goes_on,
            "wait_seconds": _whole(wait_seconds(state)) if ticked.goes_on else 0, "report": where, "counts": counts,
            "dropped": ticked.dropped}  # fmt: skip


def check_boto3(version: str | None = None) -> None:
    """The Lambda runtime's boto3 (`version`: the one imported) lags releases: refuse, saying what to do,
    rather than send a parameter an old botocore would reject halfway through a run."""
    if version is None:
        import boto3

        version = str(boto3.__version__)
    found = tuple(int(part) for part in version.split(".")[:2] if part.isdigit())
    if found < MINIMUM_BOTO3:
        wanted = ".".join(map(str, MINIMUM_BOTO3))
        raise RuntimeError(f"asgpatch needs boto3 >= {wanted}; this Lambda runtime has {version}: "
                           "redeploy with `asgpatch deploy --bundle-boto3`")  # fmt: skip


def _whole(seconds: float) -> int:
    """Step Functions' Wait takes whole seconds."""
    return max(0, math.ceil(seconds))
