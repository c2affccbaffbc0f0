"""What every asgpatch command shares: its exit codes, one-line usage errors, and starting a run whose
bad input is reported before anything changes."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import NoReturn, TypeVar

import click

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_GOES_ON = 75  # `tick`: the run is not over (EX_TEMPFAIL: run the next tick later)
T = TypeVar("T")


def fail_usage(message: str) -> NoReturn:
    click.echo(f"asgpatch: {message}", err=True)
    sys.exit(EXIT_USAGE)


def start_or_exit(action: Callable[[], T]) -> T:
    from asgpatch.cloud import CloudError
    from asgpatch.runner import UsageError

    try:
        return action()
    except UsageError as error:
        fail_usage(str(error))
    except CloudError as error:
        click.echo(f"asgpatch: {error}", err=True)
        sys.exit(EXIT_FAILED)
    raise AssertionError("unreachable")
