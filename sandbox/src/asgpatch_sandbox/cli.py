"""The sandbox's command line: `asgpatch-sandbox`, `python -m asgpatch_sandbox`, or `asgpatch sandbox`.

Bad options are exit 2 with one line (click's usage error); a port that cannot be listened on, or a
demo seed that fails, is exit 1 with one line. Never a traceback.
"""

from __future__ import annotations

from collections.abc import Sequence

import click

from asgpatch_sandbox.world import Timings


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=4566, show_default=True, type=click.IntRange(0, 65535), help="0 picks a free port.")
@click.option("--launch-seconds", default=3.0, show_default=True, type=click.FloatRange(0), help="Pending → InService.")
@click.option("--ssm-seconds", default=2.0, show_default=True, type=click.FloatRange(0), help="Running → SSM Online.")
@click.option("--patch-seconds", default=5.0, show_default=True, type=click.FloatRange(0), help="Command run time.")
@click.option("--image-seconds", default=4.0, show_default=True, type=click.FloatRange(0), help="Image ready.")
@click.option("--throttle", is_flag=True, help="Answer over-limit calls as AWS's token buckets would.")
@click.option("--fault-rate", default=0.0, type=click.FloatRange(0, 1), help="Fraction of calls failing 500/503.")
@click.option("--fault-seed", default=0, type=int, help="Seed for --fault-rate and --reset-rate (reproducible runs).")
@click.option("--reset-rate", default=0.0, type=click.FloatRange(0, 1), help="Fraction of calls dropped unanswered.")
@click.option(
    "--lost-answer-rate", default=0.0, type=click.FloatRange(0, 1), help="Fraction of calls that lose their answer."
)
@click.option(
    "--latency-ms",
    default=0.0,
    show_default=True,
    type=click.FloatRange(0, 10000),
    help="Delay every AWS answer by this many milliseconds (what real round trips cost).",
)
@click.option("--seed", "seed_name", type=click.Choice(["demo"]), help="Create a believable demo account at start.")
def sandbox(
    host: str,
    port: int,
    launch_seconds: float,
    ssm_seconds: float,
    patch_seconds: float,
    image_seconds: float,
    throttle: bool,
    fault_rate: float,
    fault_seed: int,
    reset_rate: float,
    lost_answer_rate: float,
    latency_ms: float,
    seed_name: str | None,
) -> None:
    """Run a local AWS endpoint realistic enough to patch against (foreground; Ctrl-C stops it).

    Point any client at it with AWS_ENDPOINT_URL=http://HOST:PORT, any credentials and region us-east-1.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    from asgpatch_sandbox.server import SandboxOptions, serve

    options = SandboxOptions(
        host=host,
        port=port,
        timings=Timings(launch_seconds, ssm_seconds, patch_seconds, image_seconds),
        throttle=throttle,
        fault_rate=fault_rate,
        fault_seed=fault_seed,
        reset_rate=reset_rate,
        lost_answer_rate=lost_answer_rate,
        latency_ms=latency_ms,
    )
    ready = None
    if seed_name == "demo":
        from asgpatch_sandbox.seed import seed_in_background

        ready = seed_in_background
    try:
        serve(options, ready=ready)
    except OSError as error:
        raise click.ClickException(f"cannot listen on {host}:{port}: {error.strerror or error}") from None
    except (BotoCoreError, ClientError) as error:
        raise click.ClickException(f"seeding the demo account failed: {error}") from None


def main(args: Sequence[str] | None = None, prog_name: str = "asgpatch-sandbox") -> None:
    sandbox.main(args=list(args) if args is not None else None, prog_name=prog_name)
