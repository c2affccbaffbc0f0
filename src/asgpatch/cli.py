"""The asgpatch command line: plan, run, tick, status, recover; template, deploy and schedule for the
deployed form (cli_stack.py, cli_schedule.py); and sandbox (the sandbox package's own CLI).

Conventions of the AWS CLI: --region, --profile, --endpoint-url, --output text|json; exit 0 when no
group failed, 1 when any did, 2 for bad usage or configuration — always one clear line on stderr,
never a traceback, and nothing changed.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from asgpatch import __version__
from asgpatch.cli_common import fail_usage, start_or_exit
from asgpatch.cli_options import ignored, setting_options


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
        fail_usage(
            f"the sandbox is not installed ({error.name or error} is missing): "
            "pip install '.[sandbox]' from a checkout of asgpatch"
        )
    sandbox_main(arguments, prog_name="asgpatch sandbox")


def _prepare(flags: dict[str, Any], create_key: bool = False) -> tuple[Any, Any, Any]:
    """Resolve the configuration, connect to every region (a shard each: its account read once) and read
    the state key in each (creating it for a command that writes state); any problem is exit 2 with one
    line, before anything is changed. Returns the config, the first region's cloud (the run store's and
    notifications' client) and the shards."""
    from asgpatch.aws.shards import connect_shards
    from asgpatch.cloud import SetupError
    from asgpatch.config import ConfigError, resolve

    try:
        config = resolve(flags, os.environ)
    except ConfigError as error:
        fail_usage(str(error))
    ignored(click.get_current_context().info_name or "", flags)
    try:
        shards = connect_shards(config, create_key)
    except SetupError as error:
        fail_usage(str(error))
    return config, shards[0].cloud, shards


def _emit(report: dict[str, Any], config: Any, console: Any) -> None:
    from asgpatch.report import render_json
    from asgpatch.report_views import render_text

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


@cli.command()
@setting_options("plan")
def plan(**flags: Any) -> None:
    """Show what `run` would do. Changes nothing."""
    from rich.console import Console

    from asgpatch import runner
    from asgpatch.clock import WallClock
    from asgpatch.naming import new_run_id

    config, _, shards = _prepare(flags)
    clock = WallClock()
    report = start_or_exit(lambda: runner.plan(shards, config, new_run_id(clock.now()), clock))
    _emit(report, config, Console())


@cli.command()
@setting_options("run")
def run(**flags: Any) -> None:
    """Patch every tagged group: scale up, patch, bake an AMI, new template version, restore."""
    from rich.console import Console

    from asgpatch import crashpoint, runner
    from asgpatch.clock import WallClock
    from asgpatch.naming import new_run_id
    from asgpatch.report_views import LiveView

    config, _, shards = _prepare(flags, create_key=True)
    clock = WallClock()
    run_id = new_run_id(clock.now())
    console = Console(stderr=config.output == "json")
    with LiveView(console, enabled=config.output == "text") as live:
        try:
            crash = crashpoint.from_environment(os.environ)
            report = start_or_exit(
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
        from asgpatch.shards import notifier

        for problem in notify(notifier(shards, config.sns_topic_arn), config.sns_topic_arn, report):
            click.echo(f"asgpatch: notification failed: {problem}", err=True)
    sys.exit(runner.exit_code(report))


@cli.command()
@click.option("--state", "state_location", required=True, metavar="PATH|s3://BUCKET/KEY",
              help="Where the run's state lives between ticks (a local file, or an S3 object).")  # fmt: skip
@setting_options("tick")
def tick(state_location: str, **flags: Any) -> None:
    """One tick of a run kept in --state: start the run if there is none, act once, save.

    Exit 0 when the run is over and no group failed, 1 when over with failures, 2 for bad usage, 75
    when the run goes on (run the next tick later; also when another tick holds the run or saved
    first). The run's settings are those it started with.
    """
    from asgpatch.aws.run_store import store_at
    from asgpatch.cli_tick import run_tick
    from asgpatch.clock import WallClock

    config, cloud, shards = _prepare(flags, create_key=True)
    try:
        store = store_at(state_location, cloud.api)
    except ValueError as error:
        fail_usage(f"--state: {error}")
    run_tick(store, shards, config, WallClock())


@cli.command()
@setting_options("recover")
def recover(**flags: Any) -> None:
    """Put groups a stopped run left in flight back as they were recorded, without patching."""
    from rich.console import Console

    from asgpatch import runner
    from asgpatch.clock import WallClock
    from asgpatch.naming import new_run_id

    config, _, shards = _prepare(flags, create_key=True)
    clock = WallClock()
    console = Console(stderr=config.output == "json")
    report = start_or_exit(lambda: runner.recover(shards, config, new_run_id(clock.now()), clock))
    _emit(report, config, console)
    sys.exit(runner.exit_code(report))


@cli.command()
@setting_options("status")
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

    rows = start_or_exit(gather)["rows"]
    if config.output == "json":
        click.echo(json.dumps(group_status.as_json(rows), indent=2))
    else:
        group_status.render(rows, Console())


def _add_commands() -> None:
    from asgpatch.cli_schedule import schedule_command
    from asgpatch.cli_stack import deploy, template

    cli.add_command(template)
    cli.add_command(deploy)
    cli.add_command(schedule_command)


_add_commands()


def main() -> None:
    try:
        cli.main(standalone_mode=True)
    except KeyboardInterrupt:
        sys.exit(130)
