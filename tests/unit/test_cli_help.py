"""Each command's --help tells the truth: it lists the settings the command uses and no others, with
their defaults and units; the rest are still accepted (scripts pass one command's flags to another) and
said to be ignored. No AWS: help and flag parsing stop before any connection."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from asgpatch.cli import cli
from asgpatch.cli_options import COMMAND_KEYS
from asgpatch.config import KEYS, KEYS_BY_NAME

COMMANDS = ("plan", "run", "tick", "recover", "status")


def listed_flags(help_text: str) -> set[str]:
    return {flag for flag in re.findall(r"^\s+(--[a-z-]+)", help_text, re.MULTILINE) if flag != "--help"}


def flag_of(name: str) -> str:
    return "--no-reboot" if name == "no_reboot" else KEYS_BY_NAME[name].flag


@pytest.mark.parametrize("command", COMMANDS)
def test_help_lists_exactly_the_settings_the_command_uses(command: str) -> None:
    result = CliRunner().invoke(cli, [command, "--help"])
    assert result.exit_code == 0, result.output
    expected = {flag_of(name) for name in COMMAND_KEYS[command]} | {"--config"}
    if command == "tick":
        expected.add("--state")
    assert listed_flags(result.output) == expected


def test_status_and_recover_no_longer_offer_the_patch_settings() -> None:
    status = listed_flags(CliRunner().invoke(cli, ["status", "--help"]).output)
    recover = listed_flags(CliRunner().invoke(cli, ["recover", "--help"]).output)
    patch_only = {"--patch-timeout", "--image-timeout", "--operation", "--compliance", "--concurrency", "--deadline"}
    assert not status & patch_only
    assert not recover & (patch_only - {"--concurrency"})


def test_every_default_is_shown_with_its_unit() -> None:
    text = " ".join(CliRunner().invoke(cli, ["run", "--help"]).output.split())
    assert "[default: 900 s (15 min)]" in text, "launch timeout"
    assert "[default: 7200 s (120 min)]" in text, "patch timeout"
    assert "[default: 15 s]" in text, "poll seconds"
    assert "--output [text|json]" in text and "[default: text]" in text
    assert "--reboot-option [RebootIfNeeded|NoReboot]" in text
    shown = [key for key in KEYS if key.default not in (None, ())]
    assert text.count("[default: ") == len(shown), "every key with a default shows it"


def test_a_flag_the_command_does_not_use_is_accepted_and_said_to_be_ignored() -> None:
    # An endpoint nothing listens on: the command stops (exit 2) at the connection, after the flags are read.
    arguments = ["status", "--patch-timeout", "600", "--region", "us-east-1", "--endpoint-url", "http://127.0.0.1:9"]
    result = CliRunner().invoke(cli, arguments, env={"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"})
    assert "asgpatch: status does not use --patch-timeout; ignored" in result.output
    assert "no such option" not in result.output.lower()
    assert result.exit_code == 2 and "Traceback" not in result.output
