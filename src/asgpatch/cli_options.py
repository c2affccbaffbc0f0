"""Which settings each command takes, and how --help shows them: the single source is config.KEYS; this
module decides per command which of them are listed (the rest are accepted, hidden, and said to be
ignored), with their metavars, choices and defaults with units."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import click

from asgpatch.config import KEYS, KEYS_BY_NAME, Key, default_text

# The settings each command uses: its --help lists those and no others. A command still accepts the
# rest (hidden, with a note on stderr that they are ignored), so a script passing one command's flags to
# another keeps working. `plan` takes everything that shapes the run it plans, not what only the run
# itself does over time (waiting between ticks, notifying).
_CONNECTION = ("region", "profile", "endpoint_url")
_EVERY = tuple(key.name for key in KEYS)
# fmt: off
COMMAND_KEYS: Mapping[str, tuple[str, ...]] = {
    "run": tuple(name for name in _EVERY if name != "time_budget"),
    "tick": _EVERY,
    "plan": tuple(name for name in _EVERY if name not in ("poll_seconds", "sns_topic_arn", "time_budget")),
    "recover": (*_CONNECTION, "asg", "concurrency", "poll_seconds", "output", "report", "state_key_parameter",
                "launch_timeout", "lease_seconds"),
    "status": (*_CONNECTION, "asg", "tag_key", "tag_value", "output", "state_key_parameter"),
}
# fmt: on
METAVARS: Mapping[str, str] = {
    "region": "REGION",
    "profile": "NAME",
    "endpoint_url": "URL",
    "asg": "NAME",
    "tag_key": "KEY",
    "tag_value": "VALUE",
    "concurrency": "N",
    "poll_seconds": "SECONDS",
    "output": "[text|json]",
    "report": "FILE",
    "sns_topic_arn": "ARN",
    "state_key_parameter": "NAME",
    "operation": "Install",
    "reboot_option": "[RebootIfNeeded|NoReboot]",
    "compliance": "[required|report]",
    "launch_timeout": "SECONDS",
    "ssm_timeout": "SECONDS",
    "patch_timeout": "SECONDS",
    "image_timeout": "SECONDS",
    "lease_seconds": "SECONDS",
    "deadline": "TIME",
    "time_budget": "SECONDS",
}  # fmt: skip


def default_shown(key: Key) -> str | None:
    """A key's default as --help shows it, with its unit ("900 s (15 min)"); None when boto3 or nothing decides."""
    if key.default is None or key.default == ():
        return None
    text = default_text(key.default)
    if METAVARS.get(key.name) == "SECONDS" and isinstance(key.default, (int, float)):
        minutes = key.default / 60
        return f"{text} s" + (f" ({minutes:g} min)" if key.default >= 60 and minutes.is_integer() else "")
    return text


def setting_options(command_name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """One click option per configuration key, straight from config.KEYS (a single source of truth):
    those the command uses are listed in its --help with their defaults; the rest are accepted, hidden."""
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


def ignored(command_name: str, flags: dict[str, Any]) -> None:
    """Flags a command does not use: accepted (scripts pass one command's flags to another), said once."""
    given = [name for name, value in flags.items() if value not in (None, (), []) and name in KEYS_BY_NAME]
    unused = [KEYS_BY_NAME[name].flag for name in given if name not in COMMAND_KEYS[command_name]]
    if unused:
        click.echo(f"asgpatch: {command_name} does not use {', '.join(unused)}; ignored", err=True)
