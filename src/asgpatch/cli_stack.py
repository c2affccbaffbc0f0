"""`asgpatch template` (and, with it, what `deploy` shares): the deployed form's commands.

Every parameter value is checked before anything is written (stack/parameters.py); a bad one is one
line on stderr and exit 2, with no file written.
"""

from __future__ import annotations

from pathlib import Path

import click

from asgpatch.cli_common import fail_usage


def checked_parameters(given: tuple[str, ...], required: tuple[str, ...] = ()) -> dict[str, str]:
    from asgpatch.stack.parameters import ParameterError, parse_assignments, validate

    try:
        return validate(parse_assignments(given), required)
    except ParameterError as error:
        fail_usage(str(error))


@click.command()
@click.option(
    "--output",
    "output_file",
    metavar="FILE",
    type=click.Path(dir_okay=False, path_type=Path),
    help="write the template to FILE (else to stdout)",
)
@click.option(
    "--parameter",
    "parameters",
    metavar="NAME=VALUE",
    multiple=True,
    help="a parameter's default in the written template (e.g. Schedule='cron(0 4 ? * WED#2 *)'); repeatable",
)
def template(output_file: Path | None, parameters: tuple[str, ...]) -> None:
    """Write the CloudFormation template of the deployed form (YAML): the window, its state machine, the
    engine's Lambda, the run bucket, the topic and least-privilege roles."""
    from asgpatch.stack.template import render
    from asgpatch.stack.template import template as build

    text = render(build(checked_parameters(parameters)))
    if output_file is None:
        click.echo(text, nl=False)
        return
    try:
        output_file.write_text(text)
    except OSError as error:
        fail_usage(f"--output {output_file}: {error.strerror or error}")


STACK_NAME = r"[a-zA-Z][-a-zA-Z0-9]{0,127}"


@click.command()
@click.option("--stack-name", required=True, metavar="NAME", help="the stack to create or update")
@click.option(
    "--bucket",
    metavar="BUCKET",
    help="artifact bucket for the zip (default: asgpatch-artifacts-ACCOUNT-REGION, created if missing)",
)
@click.option(
    "--parameter",
    "parameters",
    metavar="NAME=VALUE",
    multiple=True,
    help="a stack parameter (e.g. AsgTagValue=prod); repeatable; others keep their value on an update",
)
@click.option("--dry-run", is_flag=True, help="show the change set and change nothing (nothing is uploaded)")
@click.option(
    "--bundle-boto3", is_flag=True, help="ship the installed boto3 in the zip instead of using the Lambda runtime's"
)
@click.option("--region", metavar="REGION", help="AWS region (else boto3's chain: AWS_REGION, profile)")
@click.option("--profile", metavar="PROFILE", help="AWS profile (else boto3's chain)")
@click.option("--endpoint-url", metavar="URL", help="AWS endpoint, e.g. the sandbox (else AWS_ENDPOINT_URL)")
@click.option(
    "--output",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text, or one JSON document on stdout",
)
def deploy(stack_name: str, bucket: str | None, parameters: tuple[str, ...], dry_run: bool, bundle_boto3: bool,
           region: str | None, profile: str | None, endpoint_url: str | None, output: str) -> None:  # fmt: skip
    """Build the engine's Lambda zip, upload it under its content hash, and create or update the stack
    through a change set (shown first); wait for it and print its outputs. Exit 0 done (or nothing to
    change), 1 the stack failed, 2 bad input with nothing changed."""
    import json
    import re
    import sys

    from asgpatch.aws.stacks import StackApi
    from asgpatch.cli_common import EXIT_FAILED
    from asgpatch.cloud import CloudError, SetupError
    from asgpatch.stack.deploying import DeployFailed, DeployRefused
    from asgpatch.stack.deploying import deploy as run_deploy
    from asgpatch.stack.package import PackageError, build

    if not re.fullmatch(STACK_NAME, stack_name):
        fail_usage(f"--stack-name {stack_name!r}: letters, digits and hyphens, starting with a letter, at most 128")
    given = checked_parameters(parameters)
    say = (lambda line: click.echo(line, err=True)) if output == "json" else click.echo
    try:
        package = build(with_boto3=bundle_boto3)
        api = StackApi(region, profile, endpoint_url)
        done = run_deploy(api, stack_name, given, package, bucket, dry_run, say=say)
    except (SetupError, PackageError, DeployRefused) as error:
        fail_usage(str(error))
    except DeployFailed as error:
        click.echo(f"asgpatch: {error}", err=True)
        for reason in error.reasons:
            click.echo(f"  {reason}", err=True)
        sys.exit(EXIT_FAILED)
    except CloudError as error:
        click.echo(f"asgpatch: {error}", err=True)
        sys.exit(EXIT_FAILED)
    if output == "json":
        click.echo(json.dumps(done.as_json(), indent=2))
        return
    click.echo({"NO_CHANGES": f"stack {stack_name}: no changes (the code and the parameters are as deployed)",
                "DRY_RUN": f"stack {stack_name}: dry run, nothing changed ({len(done.changes)} changes shown)"}.get(
        done.status, f"stack {stack_name}: {done.status}"))  # fmt: skip
    for key, value in done.outputs.items():
        click.echo(f"  {key}: {value}")
