"""The asgpatch command line: plan, run, tick, status, recover, and sandbox (the sandbox package's own CLI).

Conventions of the AWS CLI: --region, --profile, --endpoint-url, --output text|json; exit 0 when no
group failed, 1 when any did, 2 for bad usage or configuration — always one clear line on stderr,
never a traceback, and nothing changed.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import click

from asgpatch import __version__

EXIT_FAILED = 1
EXIT_USAGE = 2
T = TypeVar("T")
EXIT_GOES_ON = 75  # `tick`: the run is not over (EX_TEMPFAIL: run the next tick later)
HOLD_MARGIN = 60.0  # `tick --time-budget`: how long past its budget another tick waits for it to be gone
HOLD_WITHOUT_BUDGET = 900.0  # without one (S3 only: a file's lock dies with its process)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="asgpatch")
def cli() -> None:
    """Patch EC2 Auto Scaling groups on a schedule, including groups scaled to zero."""


@cli.command(
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    add_help_option=False,
)
@click.argument("arguments", nargs=-1, type=click.UNPROCESSED)
def sandbox(arguments: tuple[str, ...]) -> None:
    """Run the local AWS endpoint to try asgpatch on (asgpatch sandbox --help for its options)."""
    try:
        from asgpatch_sandbox.cli import main as sandbox_main
    except ImportError as error:
        _fail_usage(
            f"the sandbox is not installed ({error.name or error} is missing): "
            "pip install '.[sandbox]' from a checkout of asgpatch"
        )
    sandbox_main(arguments, prog_name="asgpatch sandbox")


def _setting_options(command_name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """One click option per configuration key, straight from config.KEYS (a single source of truth):
    those the command uses are listed in its --help with their defaults; the rest are accepted, hidden."""
    from asgpatch.config import COMMAND_KEYS, KEYS, METAVARS, default_shown

    used = set(COMMAND_KEYS[command_name])

    def add(command: Callable[..., Any]) -> Callable[..., Any]:
        for key in reversed(KEYS):
            hidden = key.name not in used
            shown = default_shown(key)
            default = f" [default: {shown}]" if shown is not None else ""
            text = f"{key.help[:1].upper()}{key.help[1:]}{default}."
            if key.name in ("asg", "region"):
                option = click.option(key.flag, key.name, multiple=True, metavar=METAVARS[key.name], hidden=hidden,
                                      help=f"Repeatable: {key.help}.")  # fmt: skip
            elif key.name == "no_reboot":
                option = click.option("--no-reboot/--reboot", "no_reboot", default=None, hidden=hidden,
                                      help=f"{key.help} [default: --no-reboot].")  # fmt: skip
            else:
                option = click.option(key.flag, key.name, default=None, metavar=METAVARS.get(key.name, "TEXT"),
                                      hidden=hidden, help=text)  # fmt: skip
            command = option(command)
        return click.option("--config", "config", default=None, metavar="FILE", help="TOML configuration file.")(
            command
        )

    return add


def _ignored(command_name: str, flags: dict[str, Any]) -> None:
    """Flags a command does not use: accepted (scripts pass one command's flags to another), said once."""
    from asgpatch.config import COMMAND_KEYS, KEYS_BY_NAME

    given = [name for name, value in flags.items() if value not in (None, (), []) and name in KEYS_BY_NAME]
    unused = [KEYS_BY_NAME[name].flag for name in given if name not in COMMAND_KEYS[command_name]]
    if unused:
        click.echo(f"asgpatch: {command_name} does not use {', '.join(unused)}; ignored", err=True)


def _fail_usage(message: str) -> NoReturn:
    click.echo(f"asgpatch: {message}", err=True)
    sys.exit(EXIT_USAGE)


def _prepare(flags: dict[str, Any], create_key: bool = False) -> tuple[Any, Any, Any]:
    """Resolve the configuration, connect to every region (a shard each: its account read once) and read
    the state key in each (creating it for a command that writes state); any problem is exit 2 with one
    line, before anything is changed. Returns the config, the first region's cloud (the run store's and
    notifications' client) and the shards."""
    from asgpatch.aws import AwsCloud, connect
    from asgpatch.cloud import SetupError
    from asgpatch.config import ConfigError, resolve
    from asgpatch.shards import Shard

    try:
        config = resolve(flags, os.environ)
    except ConfigError as error:
        _fail_usage(str(error))
    _ignored(click.get_current_context().info_name or "", flags)
    shards = []
    try:
        for region in config.regions or (None,):
            cloud = AwsCloud(connect(region, config.profile, config.endpoint_url),
                             state_key_parameter=config.state_key_parameter)  # fmt: skip
            cloud.check()
            cloud.prepare_seals(create=create_key)
            shards.append(Shard(cloud, cloud.region, cloud.account))
    except SetupError as error:
        _fail_usage(str(error))
    return config, shards[0].cloud, tuple(shards)


def _emit(report: dict[str, Any], config: Any, console: Any) -> None:
    from asgpatch.report import render_json, render_text

    if config.report_path:
        try:
            with open(config.report_path, "w", encoding="utf-8") as handle:
                handle.write(render_json(report) + "\n")
        except OSError as error:
            click.echo(f"asgpatch: cannot write the report to {config.report_path}: {error.strerror}", err=True)
    if config.output == "json":
        click.echo(render_json(report))
    else:
        render_text(report, console)


def _start_or_exit(action: Callable[[], T]) -> T:
    from asgpatch.cloud import CloudError
    from asgpatch.runner import UsageError

    try:
        return action()
    except UsageError as error:
        _fail_usage(str(error))
    except CloudError as error:
        click.echo(f"asgpatch: {error}", err=True)
        sys.exit(EXIT_FAILED)
    raise AssertionError("unreachable")


@cli.command()
@_setting_options("plan")
def plan(**flags: Any) -> None:
    """Show what `run` would do. Changes nothing."""
    from rich.console import Console

    from asgpatch import runner
    from asgpatch.clock import WallClock
    from asgpatch.naming import new_run_id

    config, _, shards = _prepare(flags)
    clock = WallClock()
    report = _start_or_exit(lambda: runner.plan(shards, config, new_run_id(clock.now()), clock))
    _emit(report, config, Console())


@cli.command()
@_setting_options("run")
def run(**flags: Any) -> None:
    """Patch every tagged group: scale up, patch, bake an AMI, new template version, restore."""
    from rich.console import Console

    from asgpatch import crashpoint, runner
    from asgpatch.clock import WallClock
    from asgpatch.naming import new_run_id
    from asgpatch.report import LiveView

    config, cloud, shards = _prepare(flags, create_key=True)
    clock = WallClock()
    run_id = new_run_id(clock.now())
    console = Console(stderr=config.output == "json")
    with LiveView(console, enabled=config.output == "text") as live:
        try:
            crash = crashpoint.from_environment(os.environ)
            report = _start_or_exit(
                lambda: runner.run(shards, config, run_id, clock, on_tick=live.update, on_action=crash)
            )
        except KeyboardInterrupt:
            live.stop()
            click.echo(
                f"asgpatch: interrupted; groups in flight keep their asgpatch:state tag - run again to resume "
                f"(run {run_id})",
                err=True,
            )
            sys.exit(130)
    _emit(report, config, console)
    if config.sns_topic_arn:
        from asgpatch.notify import notify

        topic_region = config.sns_topic_arn.split(":")[3]  # SNS answers for a topic only in its own region
        notifier = next((shard.cloud for shard in shards if shard.region == topic_region), cloud)
        for problem in notify(notifier, config.sns_topic_arn, report):
            click.echo(f"asgpatch: notification failed: {problem}", err=True)
    sys.exit(runner.exit_code(report))


@cli.command()
@click.option("--state", "state_location", required=True, metavar="PATH|s3://BUCKET/KEY",
              help="Where the run's state lives between ticks (a local file, or an S3 object).")  # fmt: skip
@_setting_options("tick")
def tick(state_location: str, **flags: Any) -> None:
    """One tick of a run kept in --state: start the run if there is none, act once, save.

    Exit 0 when the run is over and no group failed, 1 when over with failures, 2 for bad usage, 75
    when the run goes on (run the next tick later; also when another tick holds the run or saved
    first). The run's settings are those it started with.
    """
    from asgpatch.aws.run_store import store_at
    from asgpatch.clock import WallClock
    from asgpatch.run_store import Busy, StoreError

    config, cloud, shards = _prepare(flags, create_key=True)
    clock = WallClock()
    try:
        store = store_at(state_location, cloud.api)
    except ValueError as error:
        _fail_usage(f"--state: {error}")
    # One tick at a time acts on a run: held before it is loaded, so a twin never acts on the same state.
    span = config.time_budget + HOLD_MARGIN if config.time_budget is not None else HOLD_WITHOUT_BUDGET
    try:
        with store.hold(span, clock.now()):
            _tick_held(store, shards, config, clock)
    except Busy as error:
        _gone_on(None, config, f"{error}; this tick did nothing")
    except StoreError as error:
        _fail_usage(f"--state: {error}")


def _tick_held(store: Any, shards: Any, config: Any, clock: Any) -> None:
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
        started = _start_or_exit(lambda: start_all(shards, config, run_id, clock))
        state = replace(runner.new_state(started, config), shards=given)
        try:  # recorded before it acts
            version = store.save(encode(state), expected=None)
        except StoreConflict:
            _gone_on(state, config, f"another tick started a run in {store.location} first; this one did nothing")
        except StoreError as error:
            _fail_usage(f"--state: {error}")
    else:
        try:
            state, version = decode(loaded.document), loaded.version
        except RunStateError as error:
            _fail_usage(f"--state {store.location}: {error}")
        if state.shards and not _same_shards(state.shards, given):
            covers = ", ".join(region for _, region in state.shards)
            asked = ", ".join(region for _, region in given)
            _fail_usage(f"--state {store.location}: run {state.run_id} covers {covers}, not {asked}: "
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
            _gone_on(state, config, f"{error}; the tick is dropped, the next one reads the groups again")
        except KeyboardInterrupt:
            _gone_on(state, config, "interrupted; the tick is dropped, the next one takes up from the groups' tags")
        try:
            store.save(encode(state), expected=version)
        except StoreConflict:
            _gone_on(state, config, f"another tick saved run {state.run_id} in {store.location} first; "
                     "this tick's result is dropped")  # fmt: skip
        except StoreError as error:
            _gone_on(state, config, f"{error}; the next tick takes up from the groups' tags")
    _emit_tick(state, config)


def _same_shards(stored: Any, given: Any) -> bool:
    """The regions a run started with, each in the same account (an account not recorded matches any)."""
    if sorted(region for _, region in stored) != sorted(region for _, region in given):
        return False
    accounts = dict((region, account) for account, region in given)
    return all(not account or accounts.get(region) == account for account, region in stored)


def _gone_on(state: Any, config: Any, message: str) -> NoReturn:
    """The run goes on, but this tick's result is not the run's: say why; JSON says the run is not done
    (`state` None: another tick held the run, so this one never read it)."""
    click.echo(f"asgpatch: {message}", err=True)
    if config.output == "json":
        import json

        run_id, wait = (state.run_id, state.poll_seconds) if state is not None else (None, config.poll_seconds)
        document = {"run_id": run_id, "done": False, "wait_seconds": wait, "groups": []}
        click.echo(json.dumps(document, indent=2))
    sys.exit(EXIT_GOES_ON)


def _emit_tick(state: Any, config: Any) -> NoReturn:
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


@cli.command()
@_setting_options("recover")
def recover(**flags: Any) -> None:
    """Put groups a stopped run left in flight back as they were recorded, without patching."""
    from rich.console import Console

    from asgpatch import runner
    from asgpatch.clock import WallClock
    from asgpatch.naming import new_run_id

    config, _, shards = _prepare(flags, create_key=True)
    clock = WallClock()
    console = Console(stderr=config.output == "json")
    report = _start_or_exit(lambda: runner.recover(shards, config, new_run_id(clock.now()), clock))
    _emit(report, config, console)
    sys.exit(runner.exit_code(report))


@cli.command()
@_setting_options("status")
def status(**flags: Any) -> None:
    """Tagged groups: the AMI they launch and its age, the last result, any run in flight."""
    import json

    from rich.console import Console

    from asgpatch import status as group_status
    from asgpatch.clock import WallClock
    from asgpatch.runner import UsageError

    config, _, shards = _prepare(flags)
    clock = WallClock()

    def gather() -> dict[str, Any]:
        settings = config.settings
        found = [(shard, shard.cloud.discover(settings.tag_key, settings.tag_value, config.asg_names))
                 for shard in shards]  # fmt: skip
        missing = [name for name in config.asg_names if all(name in d.missing for _, d in found)]
        if missing:
            where = "this account and region" if len(shards) == 1 else ", ".join(str(s) for s in shards)
            raise UsageError(f"no Auto Scaling group named {', '.join(missing)} in {where}")
        rows = []
        for shard, discovery in found:
            rows += group_status.gather(shard.cloud, discovery, clock.now(), shard.account, shard.region)
        return {"rows": rows}

    rows = _start_or_exit(gather)["rows"]
    if config.output == "json":
        click.echo(json.dumps(group_status.as_json(rows), indent=2))
    else:
        group_status.render(rows, Console())


def main() -> None:
    try:
        cli.main(standalone_mode=True)
    except KeyboardInterrupt:
        sys.exit(130)
