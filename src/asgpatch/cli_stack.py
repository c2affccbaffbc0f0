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
