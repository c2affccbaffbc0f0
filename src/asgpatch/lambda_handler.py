"""The deployed form's Lambda: one tick of the same engine per invocation, through the run's S3 state.

Step Functions calls it with `{"state": "s3://BUCKET/KEY", "deadline": "2026-12-09T05:00:00Z"}` (the
deadline optional: the window's end) and waits `wait_seconds` before the next call while `done` is
false. Everything else is the run's settings, read from the function's environment (`ASGPATCH_*`, as the
CLI reads them). It carries no logic of its own: one_tick.py ticks, a retried or repeated invocation
is harmless (one tick at a time holds the run; a tick after the run is over changes nothing), and the
time budget is the invocation's remaining time less a margin. Once the run is over the report — the
document `run --output json` prints — is written beside the state, and SNS gets the messages the CLI sends.
"""

from __future__ import annotations

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
from asgpatch.config_values import Invalid, moment
from asgpatch.one_tick import tick_once, wait_seconds
from asgpatch.report import render_json
from asgpatch.shards import notifier
from asgpatch.ticking import report_of

MARGIN_SECONDS = 30.0  # left of the invocation's time for saving the state and answering
REPORT_SUFFIX = ".report.json"


def handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """`{"run_id", "done", "wait_seconds", "report", "counts", "dropped"}`: `report` is the report's
    s3:// location once the run is over (else null), `counts` the groups by status, `dropped` why this
    invocation's tick did nothing (another tick held the run, AWS unreadable), else null."""
    location = str(event.get("state") or "")
    if not location.startswith("s3://"):
        raise ValueError(f"the event's state must be an s3:// location (got {location!r})")
    config = resolve({}, os.environ)
    if event.get("deadline"):
        try:
            deadline = moment(event["deadline"], True)
        except Invalid as error:
            raise ValueError(error.template.format(label="the event's deadline", got=repr(event["deadline"]))) from None
        config = replace(config, settings=replace(config.settings, deadline=deadline))
    remaining = context.get_remaining_time_in_millis() / 1000.0 if context is not None else 900.0
    budget = max(1.0, remaining - MARGIN_SECONDS)
    config = replace(config, time_budget=budget)
    ends = time.monotonic() + budget
    shards = connect_shards(config, create_key=True)
    first = shards[0].cloud
    assert isinstance(first, AwsCloud)
    store = store_at(location, first.api)
    assert isinstance(store, S3RunStore)
    ticked = tick_once(store, shards, config, WallClock(), lambda: time.monotonic() >= ends)
    state = ticked.state
    if state is None:
        return {"run_id": None, "done": False, "wait_seconds": config.poll_seconds, "report": None, "counts": {},
                "dropped": ticked.dropped}  # fmt: skip
    report = report_of(state)
    counts = dict(Counter(group["status"] for group in report["groups"]))
    where = None
    if state.done and ticked.dropped is None:
        where = store.write_beside(REPORT_SUFFIX, render_json(report).encode())
        if config.sns_topic_arn:
            from asgpatch.notify import notify

            notify(notifier(shards, config.sns_topic_arn), config.sns_topic_arn, report)
    return {"run_id": state.run_id, "done": not ticked.goes_on, "wait_seconds": wait_seconds(state) if ticked.goes_on
            else 0.0, "report": where, "counts": counts, "dropped": ticked.dropped}  # fmt: skip
