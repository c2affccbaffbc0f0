"""`asgpatch tick` as a command: one_tick.py does the tick; this turns how it ended into the exit code,
the message on stderr and the document (or line) on stdout."""

from __future__ import annotations

import os
import sys
import time
from typing import Any, NoReturn

import click

from asgpatch.cli_common import EXIT_GOES_ON, fail_usage, start_or_exit


def run_tick(store: Any, shards: Any, config: Any, clock: Any) -> NoReturn:
    from asgpatch import crashpoint
    from asgpatch.one_tick import TickRefused, tick_once

    out_of_time = None
    if config.time_budget is not None:
        ends = time.monotonic() + config.time_budget
        out_of_time = lambda: time.monotonic() >= ends  # noqa: E731 - asked between groups
    crash = crashpoint.from_environment(os.environ)
    try:
        ticked = start_or_exit(lambda: tick_once(store, shards, config, clock, out_of_time, on_action=crash))
    except TickRefused as error:
        fail_usage(str(error))
    if ticked.dropped is not None:
        gone_on(ticked.state, config, ticked.dropped)
    assert ticked.state is not None
    emit_tick(ticked.state, config)


def gone_on(state: Any, config: Any, message: str) -> NoReturn:
    """The run goes on, but this tick's result is not the run's: say why; JSON says the run is not done
    (`state` None: another tick held the run, so this one never read it)."""
    click.echo(f"asgpatch: {message}", err=True)
    if config.output == "json":
        import json

        run_id, wait = (state.run_id, state.poll_seconds) if state is not None else (None, config.poll_seconds)
        document = {"run_id": run_id, "done": False, "wait_seconds": wait, "groups": []}
        click.echo(json.dumps(document, indent=2))
    sys.exit(EXIT_GOES_ON)


def emit_tick(state: Any, config: Any) -> NoReturn:
    import json

    from rich.console import Console

    from asgpatch import runner
    from asgpatch.one_tick import wait_seconds
    from asgpatch.report_views import render_text

    report = runner.report_of(state)
    if config.output == "json":
        wait = wait_seconds(state)
        document = {"run_id": state.run_id, "done": state.done, "wait_seconds": wait, "groups": report["groups"]}
        click.echo(json.dumps(document, indent=2))
    elif state.done:
        render_text(report, Console())
    else:
        in_flight = sum(1 for job in state.jobs if not job.done)
        if state.not_reached:
            click.echo(f"run {state.run_id}: tick {state.ticks} ran out of its time budget; "
                       f"{len(state.not_reached)} group(s) left for the next tick, which can run at once")  # fmt: skip
        else:
            click.echo(f"run {state.run_id}: tick {state.ticks}, {in_flight} group(s) in flight; "
                       f"next tick in {state.poll_seconds:g} s")  # fmt: skip
    if not state.done:
        sys.exit(EXIT_GOES_ON)
    sys.exit(runner.exit_code(report))
