"""`asgpatch tick`'s work once it holds the run: load (or start) the run, one tick, save, and the exit code
and document for each way a tick can end. Kept apart from cli.py, which only parses and dispatches."""

from __future__ import annotations

import os
import sys
from typing import Any, NoReturn

import click

from asgpatch.cli_common import EXIT_GOES_ON, fail_usage, start_or_exit


def tick_held(store: Any, shards: Any, config: Any, clock: Any) -> None:
    """Load (or start) the run, tick once, save: exits with the tick's code (SystemExit passes the hold's release)."""
    from dataclasses import replace

    from asgpatch import crashpoint, runner
    from asgpatch.cloud import CloudError
    from asgpatch.naming import new_run_id
    from asgpatch.run_state import RunStateError, decode, encode
    from asgpatch.run_store import StoreConflict, StoreError
    from asgpatch.starting import start_all

    given = tuple((shard.account, shard.region) for shard in shards)
    loaded = store.load()
    if loaded is None:
        run_id = new_run_id(clock.now())
        started = start_or_exit(lambda: start_all(shards, config, run_id, clock))
        state = replace(runner.new_state(started, config), shards=given)
        try:  # recorded before it acts
            version = store.save(encode(state), expected=None)
        except StoreConflict:
            gone_on(state, config, f"another tick started a run in {store.location} first; this one did nothing")
        except StoreError as error:
            fail_usage(f"--state: {error}")
    else:
        try:
            state, version = decode(loaded.document), loaded.version
        except RunStateError as error:
            fail_usage(f"--state {store.location}: {error}")
        if state.shards and not same_shards(state.shards, given):
            covers = ", ".join(region for _, region in state.shards)
            asked = ", ".join(region for _, region in given)
            fail_usage(f"--state {store.location}: run {state.run_id} covers {covers}, not {asked}: "
                        "give a tick the regions the run started with")  # fmt: skip
    if not state.done:
        crash = crashpoint.from_environment(os.environ)
        out_of_time = None
        if config.time_budget is not None:
            import time

            ends = time.monotonic() + config.time_budget
            out_of_time = lambda: time.monotonic() >= ends  # noqa: E731 - asked between groups
        try:
            state = runner.tick_state(state, shards, clock, on_action=crash, out_of_time=out_of_time)
        except CloudError as error:  # AWS unreadable for many ticks: nothing saved; the tags keep the truth
            gone_on(state, config, f"{error}; the tick is dropped, the next one reads the groups again")
        except KeyboardInterrupt:
            gone_on(state, config, "interrupted; the tick is dropped, the next one takes up from the groups' tags")
        try:
            store.save(encode(state), expected=version)
        except StoreConflict:
            gone_on(state, config, f"another tick saved run {state.run_id} in {store.location} first; "
                     "this tick's result is dropped")  # fmt: skip
        except StoreError as error:
            gone_on(state, config, f"{error}; the next tick takes up from the groups' tags")
    emit_tick(state, config)


def same_shards(stored: Any, given: Any) -> bool:
    """The regions a run started with, each in the same account (an account not recorded matches any)."""
    if sorted(region for _, region in stored) != sorted(region for _, region in given):
        return False
    accounts = dict((region, account) for account, region in given)
    return all(not account or accounts.get(region) == account for account, region in stored)


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
    from asgpatch.report import render_text

    report = runner.report_of(state)
    if config.output == "json":
        wait = 0 if state.done or state.not_reached else state.poll_seconds
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
