"""One place that decides every run setting: flag > environment `ASGPATCH_*` > config file > default.

Why one place: the CLI, the Lambda handler and the docs must agree on where a value comes from, and a bad
value must be reported once, as one sentence naming the key and its source (the CLI exits 2 on
`ConfigError`). Everything here is pure: the caller passes the flags, the environment and the file path.

Sources, for a key such as `patch_timeout`:
    flag         `--patch-timeout` (the CLI's value; None means "not given")
    environment  `ASGPATCH_PATCH_TIMEOUT` (an empty variable counts as not set, as CI systems set unset
                 variables to "")
    file         `patch_timeout = 3600` or `patch-timeout = 3600` at the top level of the TOML file named by
                 `--config`, else by `ASGPATCH_CONFIG`
    default      the value in KEYS

`region`, `profile` and `endpoint_url` default to None, which leaves them to boto3's own chain
(AWS_REGION, AWS_PROFILE, AWS_ENDPOINT_URL, ~/.aws/config): this module never reads AWS_* itself.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from asgpatch.config_values import (
    MAX_CONCURRENCY,
    MAX_POLL_SECONDS,
    MAX_TIMEOUT,
    Invalid,
    boolean,
    choice,
    endpoint_url,
    group_names,
    moment,
    operation,
    optional_text,
    parameter_name,
    regions,
    seconds,
    show,
    tag_key,
    tag_value,
    topic_arn,
    whole_number,
)
from asgpatch.model import Settings

ENV_PREFIX = "ASGPATCH_"
CONFIG_ENV = "ASGPATCH_CONFIG"


class ConfigError(ValueError):
    """A setting is invalid: the message is one sentence naming the key and where it came from."""


@dataclass(frozen=True)
class RunConfig:
    """Every setting of one `plan` or `run`, resolved and validated."""

    regions: tuple[str, ...] = ()  # the run's shards, one per region (none given: boto3's chain decides one)
    profile: str | None = None
    endpoint_url: str | None = None
    asg_names: tuple[str, ...] = ()
    concurrency: int = 10
    poll_seconds: float = 15.0
    output: str = "text"
    report_path: str | None = None
    sns_topic_arn: str | None = None
    state_key_parameter: str = "/asgpatch/state-key"
    time_budget: float | None = None  # `tick`: seconds it may spend acting (None: no limit)
    settings: Settings = field(default_factory=Settings)
    config_file: str | None = None  # the file that was read, if any
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)  # key -> "--x", "ASGPATCH_X"...

    @property
    def region(self) -> str | None:
        """The first region: what a caller that connects to one connects to."""
        return self.regions[0] if self.regions else None


# --- the keys -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Key:
    """One setting: its canonical name (flags mapping and TOML file), parser, default and meaning."""

    name: str
    parse: Callable[[object, bool], Any]  # (value, from_text): text is converted only from flags and environment
    default: object
    help: str

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.name.upper()


_DEFAULTS = Settings()

KEYS: tuple[Key, ...] = (
    Key("region", regions, (), "AWS region; repeat for a run over several (else boto3's chain: AWS_REGION, profile)"),
    Key("profile", optional_text, None, "AWS profile (else boto3's chain)"),
    Key("endpoint_url", endpoint_url, None, "AWS endpoint, e.g. the sandbox (else AWS_ENDPOINT_URL)"),
    Key("asg", group_names, (), "only these groups (still only if tagged); environment: comma-separated"),
    Key("tag_key", tag_key, _DEFAULTS.tag_key, "tag that marks groups to patch"),
    Key("tag_value", tag_value, _DEFAULTS.tag_value, "value the tag must have"),
    Key("concurrency", whole_number(1, MAX_CONCURRENCY), 10, "groups patched at once"),
    Key("poll_seconds", seconds(MAX_POLL_SECONDS), 15.0, "seconds between ticks"),
    Key("output", choice("text", "json"), "text", "text (tables) or json (one document on stdout)"),
    Key("report", optional_text, None, "also write the JSON report to this file"),
    Key("sns_topic_arn", topic_arn, None, "SNS topic for the summary and failure messages"),
    Key(
        "state_key_parameter",
        parameter_name,
        RunConfig.state_key_parameter,
        "SSM SecureString parameter holding the key state tags are sealed with (created on first run)",
    ),
    Key("operation", operation, _DEFAULTS.operation, "AWS-RunPatchBaseline Operation: Install (a Scan is refused)"),
    Key(
        "reboot_option",
        choice("RebootIfNeeded", "NoReboot"),
        _DEFAULTS.reboot_option,
        "AWS-RunPatchBaseline RebootOption",
    ),
    Key("no_reboot", boolean, _DEFAULTS.no_reboot, "CreateImage NoReboot"),
    Key(
        "compliance",
        choice("required", "report"),
        _DEFAULTS.compliance,
        "patches missing or failed after the Install: required fails the group; report bakes anyway",
    ),
    Key("launch_timeout", seconds(MAX_TIMEOUT), _DEFAULTS.launch_timeout, "seconds for the instance to be InService"),
    Key("ssm_timeout", seconds(MAX_TIMEOUT), _DEFAULTS.ssm_timeout, "seconds for SSM to report it Online"),
    Key("patch_timeout", seconds(MAX_TIMEOUT), _DEFAULTS.patch_timeout, "seconds for the patch command"),
    Key("image_timeout", seconds(MAX_TIMEOUT), _DEFAULTS.image_timeout, "seconds for the image to be available"),
    Key("lease_seconds", seconds(MAX_TIMEOUT), _DEFAULTS.lease_seconds, "seconds a stopped run keeps its groups"),
    Key("deadline", moment, None, "no group starts after this time (ISO 8601, e.g. 2026-12-09T06:00:00Z)"),
    Key(
        "time_budget",
        seconds(MAX_TIMEOUT),
        None,
        "seconds one tick may spend acting; groups it does not reach are left to the next tick",
    ),
)
KEYS_BY_NAME: Mapping[str, Key] = {key.name: key for key in KEYS}
FLAG_ONLY = frozenset({"config"})  # accepted in `flags`, not a setting of its own

# --- reading each source --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Given:
    """A raw value and how to name it in a message."""

    value: object
    label: str  # --tag-key, ASGPATCH_TAG_KEY, or the key as spelled in the file
    where: str = ""  # "config file x.toml: line 3: " for file values
    source: str = ""  # for RunConfig.sources
    from_text: bool = True  # False for TOML values, which carry their own types


def _from_flags(flags: Mapping[str, object | None]) -> dict[str, _Given]:
    unknown = sorted(set(flags) - set(KEYS_BY_NAME) - FLAG_ONLY)
    if unknown:
        raise TypeError(f"resolve() got flags that are not settings: {', '.join(unknown)}")
    given: dict[str, _Given] = {}
    for name, value in flags.items():
        if name in FLAG_ONLY or value is None or (name in ("asg", "region") and value in ((), [])):
            continue  # click gives () for a repeatable option never used
        flag = KEYS_BY_NAME[name].flag
        given[name] = _Given(value, flag, source=flag)
    return given


def _from_environment(environ: Mapping[str, str]) -> dict[str, _Given]:
    given: dict[str, _Given] = {}
    for key in KEYS:
        value = environ.get(key.env)
        if value:
            given[key.name] = _Given(value, key.env, source=key.env)
    return given


def _config_path(flags: Mapping[str, object | None], environ: Mapping[str, str], config_file: str | None) -> str | None:
    """--config (passed as `config_file` or as flags["config"]), else ASGPATCH_CONFIG, else no file."""
    for candidate in (config_file, flags.get("config")):
        if candidate is not None:
            if not str(candidate).strip():
                raise ConfigError(f"--config must name a file (got {show(candidate)})")
            return str(candidate)
    return environ.get(CONFIG_ENV) or None


def _shown_path(path: str) -> str:
    """A path as typed, or quoted when it holds characters that would break a one-line message."""
    return path if path.isprintable() else repr(path)


def _read_file(path: str) -> tuple[dict[str, Any], str]:
    where = f"config file {_shown_path(path)}"
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except OSError as error:
        raise ConfigError(f"{where} cannot be read: {error.strerror or error}") from None
    except ValueError as error:  # e.g. a NUL byte in the path
        raise ConfigError(f"{where} cannot be read: {error}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError(f"{where}: not UTF-8 text (bad byte at offset {error.start})") from None
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{where}: {_toml_problem(str(error))}") from None


_TOML_POSITION = re.compile(r"^(?P<what>.*?)\s*\(at line (?P<line>\d+), column (?P<column>\d+)\)$", re.DOTALL)


def _toml_problem(message: str) -> str:
    """tomllib says "Invalid value (at line 3, column 9)"; we say "line 3: invalid value (column 9)"."""
    match = _TOML_POSITION.match(message)
    if match is None:
        return f"malformed TOML: {message}"
    what = match["what"]
    what = what[:1].lower() + what[1:]
    return f"line {match['line']}: {what} (column {match['column']})"


def _from_file(path: str) -> dict[str, _Given]:
    """Top-level keys in snake or kebab case; an unknown or doubled key is an error, not a silent default."""
    document, text = _read_file(path)
    given: dict[str, _Given] = {}
    spelled: dict[str, str] = {}
    for raw_key, value in document.items():
        name = raw_key.replace("-", "_")
        if name not in KEYS_BY_NAME:
            raise ConfigError(f"config file {_shown_path(path)}: unknown key {raw_key!r}{_suggestion(raw_key)}")
        if name in spelled:
            raise ConfigError(
                f"config file {_shown_path(path)}: {name} is given twice (as {spelled[name]!r} and {raw_key!r})"
            )
        spelled[name] = raw_key
        line = _line_of(text, raw_key)
        where = f"config file {_shown_path(path)}: " + (f"line {line}: " if line else "")
        given[name] = _Given(value, raw_key, where=where, source=f"config file {_shown_path(path)}", from_text=False)
    return given


def _suggestion(raw_key: str) -> str:
    names = [key.name for key in KEYS] + [key.name.replace("_", "-") for key in KEYS]
    close = difflib.get_close_matches(raw_key.replace("-", "_").lower(), names, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _line_of(text: str, raw_key: str) -> int | None:
    """The line that sets a top-level key, for messages (tomllib reports positions only for syntax errors)."""
    quoted = re.escape(raw_key)
    pattern = re.compile(rf"^\s*(?:{quoted}|\"{quoted}\"|'{quoted}')\s*=")
    for number, line in enumerate(text.splitlines(), start=1):
        if line.lstrip().startswith("["):
            return None  # top-level keys all come before the first table
        if pattern.match(line):
            return number
    return None


# --- resolving ------------------------------------------------------------------------------------------------


def _parse(key: Key, given: _Given) -> object:
    try:
        return key.parse(given.value, given.from_text)
    except Invalid as invalid:
        sentence = invalid.template.format(label=given.label, got=show(given.value))
        raise ConfigError(given.where + sentence) from None


def resolve(
    flags: Mapping[str, object | None], environ: Mapping[str, str], config_file: str | None = None
) -> RunConfig:
    """Every setting from the highest source that gives it: flag > ASGPATCH_* > config file > default.

    `flags` maps the canonical key names (KEYS, plus "config") to the CLI's values, None meaning "not
    given"; `config_file` is the --config value. Raises ConfigError, and nothing else, for any bad input
    from the environment, the file or the flags' values (TypeError for a flag name that is no setting: a
    programming error, not a user's).
    """
    from_flags = _from_flags(flags)
    path = _config_path(flags, environ, config_file)
    layers = (from_flags, _from_environment(environ), _from_file(path) if path else {})
    values: dict[str, object] = {}
    sources: dict[str, str] = {}
    for key in KEYS:
        given = next((layer[key.name] for layer in layers if key.name in layer), None)
        if given is None:
            values[key.name], sources[key.name] = key.default, "default"
        else:
            values[key.name], sources[key.name] = _parse(key, given), given.source
    return _build(values, path, sources)


def _build(values: Mapping[str, Any], path: str | None, sources: Mapping[str, str]) -> RunConfig:
    settings = Settings(
        tag_key=values["tag_key"],
        tag_value=values["tag_value"],
        operation=values["operation"],
        reboot_option=values["reboot_option"],
        no_reboot=values["no_reboot"],
        compliance=values["compliance"],
        launch_timeout=float(values["launch_timeout"]),
        ssm_timeout=float(values["ssm_timeout"]),
        patch_timeout=float(values["patch_timeout"]),
        image_timeout=float(values["image_timeout"]),
        lease_seconds=float(values["lease_seconds"]),
        deadline=values["deadline"],
    )
    return RunConfig(
        regions=values["region"],
        profile=values["profile"],
        endpoint_url=values["endpoint_url"],
        asg_names=values["asg"],
        concurrency=values["concurrency"],
        poll_seconds=float(values["poll_seconds"]),
        output=values["output"],
        report_path=values["report"],
        sns_topic_arn=values["sns_topic_arn"],
        state_key_parameter=values["state_key_parameter"],
        time_budget=values["time_budget"],
        settings=settings,
        config_file=path,
        sources=dict(sources),
    )


def describe_sources() -> str:
    """The precedence and every key's flag, variable, file key and default, for --help epilogues and docs."""
    lines = [
        "Each setting comes from the first of: flag, environment variable, config file (--config FILE or",
        f"{CONFIG_ENV}; TOML, top-level keys in snake_case or kebab-case), default. region, profile and",
        "endpoint_url otherwise come from boto3 (AWS_REGION, AWS_PROFILE, AWS_ENDPOINT_URL, ~/.aws/config).",
        "",
    ]
    for key in KEYS:
        default = "-" if key.default is None or key.default == () else default_text(key.default)
        lines.append(f"  {key.flag:<18} {key.env:<25} {key.name:<15} default {default:<15} {key.help}")
    return "\n".join(lines)


def default_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
