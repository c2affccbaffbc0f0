"""Settings resolution: flag > ASGPATCH_* > config file > default, and one clear ConfigError per bad input."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asgpatch.config import KEYS, ConfigError, RunConfig, describe_sources, resolve
from asgpatch.model import Settings


def write_config(tmp_path: Path, text: str, name: str = "asgpatch.toml") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def error_of(flags=None, environ=None, config_file=None) -> str:
    with pytest.raises(ConfigError) as caught:
        resolve(flags or {}, environ or {}, config_file)
    return str(caught.value)


# --- defaults -------------------------------------------------------------------------------------------------


def test_nothing_given_gives_the_documented_defaults():
    config = resolve({}, {}, None)
    assert config == RunConfig(
        regions=(),
        profile=None,
        endpoint_url=None,
        asg_names=(),
        concurrency=10,
        poll_seconds=15.0,
        output="text",
        report_path=None,
        sns_topic_arn=None,
        settings=Settings(
            tag_key="ep:asg:patch",
            tag_value="true",
            operation="Install",
            reboot_option="RebootIfNeeded",
            no_reboot=True,
            launch_timeout=15 * 60,
            ssm_timeout=15 * 60,
            patch_timeout=120 * 60,
            image_timeout=90 * 60,
        ),
    )
    assert set(config.sources.values()) == {"default"}


def test_flags_given_as_none_are_not_given():
    assert resolve({key.name: None for key in KEYS} | {"config": None}, {}, None) == resolve({}, {}, None)


def test_aws_variables_are_left_to_boto3():
    environ = {"AWS_REGION": "eu-west-1", "AWS_PROFILE": "ops", "AWS_ENDPOINT_URL": "http://localhost:4566"}
    config = resolve({}, environ, None)
    assert (config.region, config.profile, config.endpoint_url) == (None, None, None)


# --- precedence in every combination -------------------------------------------------------------------------

# key: (flag value, environment text, TOML text, expected from flag, from env, from file, default)
PRECEDENCE = {
    "tag_key": ("flag:key", "env:key", 'tag_key = "file:key"', "flag:key", "env:key", "file:key", "ep:asg:patch"),
    "concurrency": (7, "8", "concurrency = 9", 7, 8, 9, 10),
    "patch_timeout": (60.0, "120", "patch-timeout = 180", 60.0, 120.0, 180.0, 7200.0),
    "asg": (("f1", "f2"), "e1, e2", 'asg = ["c1", "c2"]', ("f1", "f2"), ("e1", "e2"), ("c1", "c2"), ()),
}
COMBINATIONS = [combo for size in range(4) for combo in itertools.combinations(("flag", "env", "file"), size)]


def _value(config: RunConfig, name: str) -> object:
    return {
        "tag_key": config.settings.tag_key,
        "concurrency": config.concurrency,
        "patch_timeout": config.settings.patch_timeout,
        "asg": config.asg_names,
    }[name]


@pytest.mark.parametrize("sources", COMBINATIONS, ids=lambda combo: "+".join(combo) or "none")
@pytest.mark.parametrize("name", sorted(PRECEDENCE))
def test_the_highest_source_given_wins(tmp_path, name, sources):
    flag, env, toml, from_flag, from_env, from_file, default = PRECEDENCE[name]
    flags = {name: flag} if "flag" in sources else {}
    environ = {"ASGPATCH_" + name.upper(): env} if "env" in sources else {}
    path = write_config(tmp_path, toml + "\n") if "file" in sources else None
    expected = from_flag if "flag" in sources else from_env if "env" in sources else from_file if path else default
    config = resolve(flags, environ, path)
    assert _value(config, name) == expected
    winner = next(iter(sources), "default")
    assert (
        config.sources[name]
        == {
            "flag": "--" + name.replace("_", "-"),
            "env": "ASGPATCH_" + name.upper(),
            "file": f"config file {path}",
            "default": "default",
        }[winner]
    )


def test_each_key_is_resolved_on_its_own(tmp_path):
    path = write_config(tmp_path, 'tag_key = "file:key"\nconcurrency = 9\n')
    config = resolve({"concurrency": 3}, {"ASGPATCH_TAG_VALUE": "yes"}, path)
    assert (config.settings.tag_key, config.settings.tag_value, config.concurrency) == ("file:key", "yes", 3)


def test_every_setting_can_come_from_the_file_in_kebab_case(tmp_path):
    path = write_config(
        tmp_path,
        """
region = "eu-west-1"
profile = "ops"
endpoint-url = "http://127.0.0.1:4566"
asg = ["web"]
tag-key = "team:patch"
tag-value = "yes"
concurrency = 4
poll-seconds = 2.5
output = "json"
report = "out/report.json"
sns-topic-arn = "arn:aws:sns:eu-west-1:123456789012:patching"
state-key-parameter = "/platform/asgpatch/state-key"
operation = "install"
reboot-option = "NoReboot"
no-reboot = false
compliance = "report"
launch-timeout = 60
ssm-timeout = 61
patch-timeout = 62
image-timeout = 63.5
lease-seconds = 120
deadline = "2026-12-09T06:00:00Z"
time-budget = 840
""",
    )
    config = resolve({}, {}, path)
    assert config.region == "eu-west-1"
    assert config.time_budget == 840.0
    assert config.profile == "ops"
    assert config.endpoint_url == "http://127.0.0.1:4566"
    assert config.asg_names == ("web",)
    assert (config.concurrency, config.poll_seconds, config.output) == (4, 2.5, "json")
    assert config.report_path == "out/report.json"
    assert config.sns_topic_arn == "arn:aws:sns:eu-west-1:123456789012:patching"
    assert config.state_key_parameter == "/platform/asgpatch/state-key"
    assert config.settings == Settings(
        tag_key="team:patch",
        tag_value="yes",
        operation="Install",
        reboot_option="NoReboot",
        no_reboot=False,
        compliance="report",
        launch_timeout=60.0,
        ssm_timeout=61.0,
        patch_timeout=62.0,
        image_timeout=63.5,
        lease_seconds=120.0,
        deadline=1_796_796_000.0,
    )
    assert config.config_file == path
    assert set(config.sources.values()) == {f"config file {path}"}


def test_every_setting_can_come_from_the_environment():
    environ = {
        "ASGPATCH_REGION": "us-west-2",
        "ASGPATCH_ENDPOINT_URL": "https://example.test:8443/",
        "ASGPATCH_ASG": "a,b,,a ",
        "ASGPATCH_OUTPUT": "JSON",
        "ASGPATCH_OPERATION": "INSTALL",
        "ASGPATCH_REBOOT_OPTION": "noreboot",
        "ASGPATCH_NO_REBOOT": "off",
        "ASGPATCH_IMAGE_TIMEOUT": " 1.5e3 ",
        "ASGPATCH_SNS_TOPIC_ARN": "arn:aws-us-gov:sns:us-gov-west-1:123456789012:t",
    }
    config = resolve({}, environ, None)
    assert config.region == "us-west-2"
    assert config.endpoint_url == "https://example.test:8443/"
    assert config.asg_names == ("a", "b")  # order kept, blanks and duplicates dropped
    assert config.output == "json"
    assert (config.settings.operation, config.settings.reboot_option) == ("Install", "NoReboot")
    assert config.settings.no_reboot is False
    assert config.settings.image_timeout == 1500.0
    assert config.sns_topic_arn == "arn:aws-us-gov:sns:us-gov-west-1:123456789012:t"


@pytest.mark.parametrize(("text", "expected"), [("true", True), ("YES", True), ("1", True), ("no", False)])
def test_booleans_from_the_environment(text, expected):
    assert resolve({}, {"ASGPATCH_NO_REBOOT": text}, None).settings.no_reboot is expected


def test_a_false_flag_beats_a_true_environment():
    config = resolve({"no_reboot": False}, {"ASGPATCH_NO_REBOOT": "true"}, None)
    assert config.settings.no_reboot is False


def test_an_empty_environment_variable_counts_as_not_set(tmp_path):
    path = write_config(tmp_path, 'tag_key = "file:key"\n')
    config = resolve({}, {"ASGPATCH_TAG_KEY": "", "ASGPATCH_REGION": ""}, path)
    assert (config.settings.tag_key, config.region) == ("file:key", None)


def test_flag_values_given_as_text_are_parsed_like_the_environment():
    config = resolve({"concurrency": "12", "asg": "x,y", "no_reboot": "false"}, {}, None)
    assert (config.concurrency, config.asg_names, config.settings.no_reboot) == (12, ("x", "y"), False)


def test_an_unused_repeatable_flag_is_not_given():
    assert resolve({"asg": ()}, {"ASGPATCH_ASG": "e"}, None).asg_names == ("e",)


def test_an_empty_list_in_the_file_narrows_nothing(tmp_path):
    assert resolve({}, {}, write_config(tmp_path, "asg = []\n")).asg_names == ()


def test_a_flag_that_is_no_setting_is_a_programming_error():
    with pytest.raises(TypeError, match="verbose"):
        resolve({"verbose": True}, {}, None)


# --- which config file ----------------------------------------------------------------------------------------


def test_the_config_flag_beats_asgpatch_config(tmp_path):
    from_flag = write_config(tmp_path, "concurrency = 2\n", "flag.toml")
    from_env = write_config(tmp_path, "concurrency = 3\n", "env.toml")
    assert resolve({}, {"ASGPATCH_CONFIG": from_env}, from_flag).concurrency == 2
    assert resolve({"config": from_flag}, {"ASGPATCH_CONFIG": from_env}, None).concurrency == 2
    config = resolve({}, {"ASGPATCH_CONFIG": from_env}, None)
    assert (config.concurrency, config.config_file) == (3, from_env)


# --- errors, one sentence each ----------------------------------------------------------------------------------


def test_concurrency_flag_out_of_range():
    assert error_of({"concurrency": 0}) == "--concurrency must be a whole number from 1 to 100 (got 0)"
    assert error_of({"concurrency": 101}) == "--concurrency must be a whole number from 1 to 100 (got 101)"


def test_poll_seconds_not_a_number():
    message = error_of(environ={"ASGPATCH_POLL_SECONDS": "abc"})
    assert message == "ASGPATCH_POLL_SECONDS must be a number > 0 (got 'abc')"


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"ASGPATCH_CONCURRENCY": "ten"}, "ASGPATCH_CONCURRENCY must be a whole number from 1 to 100 (got 'ten')"),
        ({"ASGPATCH_CONCURRENCY": "2.5"}, "ASGPATCH_CONCURRENCY must be a whole number from 1 to 100 (got '2.5')"),
        ({"ASGPATCH_PATCH_TIMEOUT": "0"}, "ASGPATCH_PATCH_TIMEOUT must be a number > 0 (got '0')"),
        ({"ASGPATCH_LAUNCH_TIMEOUT": "-5"}, "ASGPATCH_LAUNCH_TIMEOUT must be a number > 0 (got '-5')"),
        ({"ASGPATCH_SSM_TIMEOUT": "nan"}, "ASGPATCH_SSM_TIMEOUT must be a number > 0 (got 'nan')"),
        ({"ASGPATCH_IMAGE_TIMEOUT": "inf"}, "ASGPATCH_IMAGE_TIMEOUT must be at most 604800 seconds (got 'inf')"),
        ({"ASGPATCH_POLL_SECONDS": "7200"}, "ASGPATCH_POLL_SECONDS must be at most 3600 seconds (got '7200')"),
        ({"ASGPATCH_OUTPUT": "yaml"}, "ASGPATCH_OUTPUT must be text or json (got 'yaml')"),
        ({"ASGPATCH_OPERATION": "Patch"}, "ASGPATCH_OPERATION must be Install (got 'Patch')"),
        (
            {"ASGPATCH_OPERATION": "Scan"},
            "ASGPATCH_OPERATION Scan would bake an image that was never patched: "
            "asgpatch runs AWS-RunPatchBaseline with Install only (got 'Scan')",
        ),
        (
            {"ASGPATCH_REBOOT_OPTION": "Always"},
            "ASGPATCH_REBOOT_OPTION must be RebootIfNeeded or NoReboot (got 'Always')",
        ),
        ({"ASGPATCH_NO_REBOOT": "maybe"}, "ASGPATCH_NO_REBOOT must be true or false (got 'maybe')"),
        ({"ASGPATCH_TAG_KEY": "   "}, "the tag key must not be empty (ASGPATCH_TAG_KEY is '   ')"),
        ({"ASGPATCH_ASG": " , "}, "ASGPATCH_ASG names no Auto Scaling group (got ' , ')"),
        ({"ASGPATCH_REGION": " "}, "ASGPATCH_REGION names no region (got ' ')"),
        (
            {"ASGPATCH_ENDPOINT_URL": "localhost:4566"},
            "ASGPATCH_ENDPOINT_URL must be an http:// or https:// URL (got 'localhost:4566')",
        ),
        (
            {"ASGPATCH_ENDPOINT_URL": "http://[::1"},
            "ASGPATCH_ENDPOINT_URL must be an http:// or https:// URL (got 'http://[::1')",
        ),
        (
            {"ASGPATCH_SNS_TOPIC_ARN": "patching"},
            "ASGPATCH_SNS_TOPIC_ARN must be an SNS topic ARN like arn:aws:sns:REGION:ACCOUNT:NAME (got 'patching')",
        ),
        (
            {"ASGPATCH_STATE_KEY_PARAMETER": "/aws/asgpatch"},
            "ASGPATCH_STATE_KEY_PARAMETER must be an SSM parameter name like /asgpatch/state-key, not under aws or "
            "ssm (got '/aws/asgpatch')",
        ),
        (
            {"ASGPATCH_STATE_KEY_PARAMETER": "/asgpatch/state key"},
            "ASGPATCH_STATE_KEY_PARAMETER must be an SSM parameter name like /asgpatch/state-key, not under aws or "
            "ssm (got '/asgpatch/state key')",
        ),
    ],
)
def test_environment_errors(environ, message):
    assert error_of(environ=environ) == message


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ({"tag_key": ""}, "the tag key must not be empty (--tag-key is '')"),
        ({"tag_key": "k" * 129}, "--tag-key must be at most 128 characters (got 'kkkk"),
        ({"tag_value": "v" * 257}, "--tag-value must be at most 256 characters (got 'vvvv"),
        ({"tag_key": "asgpatch:state"}, "--tag-key must not be one of asgpatch's own asgpatch:* tags"),
        ({"patch_timeout": 0}, "--patch-timeout must be a number > 0 (got 0)"),
        ({"poll_seconds": -1.0}, "--poll-seconds must be a number > 0 (got -1.0)"),
        ({"concurrency": True}, "--concurrency must be a whole number from 1 to 100 (got True)"),
        ({"asg": ("ok", "")}, "--asg must list Auto Scaling group names of 1 to 255 characters (got ('ok', ''))"),
        ({"output": "xml"}, "--output must be text or json (got 'xml')"),
    ],
)
def test_flag_errors(flags, message):
    assert error_of(flags).startswith(message)


def test_long_values_are_shortened_in_messages():
    message = error_of({"tag_key": "k" * 129})
    assert message.endswith("...)")
    assert len(message) < 120


def test_tag_key_and_value_at_their_limits_are_fine():
    config = resolve({"tag_key": "k" * 128, "tag_value": "v" * 256}, {}, None)
    assert (len(config.settings.tag_key), len(config.settings.tag_value)) == (128, 256)


def test_an_empty_tag_value_is_a_real_tag_value():
    assert resolve({"tag_value": ""}, {}, None).settings.tag_value == ""


def test_unknown_key_in_the_file(tmp_path):
    path = write_config(tmp_path, 'tagkey = "x"\n', "x.toml")
    assert error_of(config_file=path) == f"config file {path}: unknown key 'tagkey' (did you mean 'tag_key'?)"


def test_unknown_key_with_nothing_close(tmp_path):
    path = write_config(tmp_path, "colour = 1\n")
    assert error_of(config_file=path) == f"config file {path}: unknown key 'colour'"


def test_a_table_is_an_unknown_key(tmp_path):
    path = write_config(tmp_path, "[asgpatch]\ntag_key = 'x'\n")
    assert error_of(config_file=path) == f"config file {path}: unknown key 'asgpatch'"


def test_malformed_toml_names_the_line(tmp_path):
    path = write_config(tmp_path, 'tag_key = "x"\nconcurrency = 4\nregion = \n')
    assert error_of(config_file=path) == f"config file {path}: line 3: invalid value (column 10)"


def test_a_value_error_in_the_file_names_the_line(tmp_path):
    path = write_config(tmp_path, '# patching\ntag_key = "x"\nconcurrency = 0\n')
    message = error_of(config_file=path)
    assert message == f"config file {path}: line 3: concurrency must be a whole number from 1 to 100 (got 0)"


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('"tag-key" = ""', "line 1: the tag key must not be empty (tag-key is '')"),
        ("tag_key = 5", "line 1: tag_key must be a string (got 5)"),
        ('concurrency = "4"', "line 1: concurrency must be a whole number from 1 to 100 (got '4')"),
        ("concurrency = 2.0", "line 1: concurrency must be a whole number from 1 to 100 (got 2.0)"),
        ("concurrency = true", "line 1: concurrency must be a whole number from 1 to 100 (got True)"),
        ('patch_timeout = "1h"', "line 1: patch_timeout must be a number > 0 (got '1h')"),
        ("image-timeout = -1", "line 1: image-timeout must be a number > 0 (got -1)"),
        ("ssm_timeout = nan", "line 1: ssm_timeout must be a number > 0 (got nan)"),
        ('no_reboot = "true"', "line 1: no_reboot must be true or false (got 'true')"),
        ("asg = [1]", "line 1: asg must list Auto Scaling group names of 1 to 255 characters (got [1])"),
        ("asg = 3", "line 1: asg must be a list of Auto Scaling group names (got 3)"),
        ('asg = "web"', "line 1: asg must be a list of Auto Scaling group names (got 'web')"),
        ('operation = "install now"', "line 1: operation must be Install (got 'install now')"),
    ],
)
def test_file_value_errors(tmp_path, toml, message):
    path = write_config(tmp_path, toml + "\n")
    assert error_of(config_file=path) == f"config file {path}: {message}"


def test_a_key_given_in_both_spellings(tmp_path):
    path = write_config(tmp_path, 'tag_key = "a"\ntag-key = "b"\n')
    assert error_of(config_file=path) == f"config file {path}: tag_key is given twice (as 'tag_key' and 'tag-key')"


def test_an_empty_config_flag():
    assert error_of(config_file="") == "--config must name a file (got '')"
    assert error_of({"config": " "}) == "--config must name a file (got ' ')"


def test_an_empty_asgpatch_config_means_no_file():
    assert resolve({}, {"ASGPATCH_CONFIG": ""}, None).config_file is None


def test_a_missing_file(tmp_path):
    path = str(tmp_path / "nope.toml")
    assert error_of(config_file=path) == f"config file {path} cannot be read: No such file or directory"


def test_a_directory_as_file(tmp_path):
    assert error_of(config_file=str(tmp_path)).startswith(f"config file {tmp_path} cannot be read: ")


def test_a_missing_file_named_by_the_environment(tmp_path):
    path = str(tmp_path / "nope.toml")
    assert error_of(environ={"ASGPATCH_CONFIG": path}).startswith(f"config file {path} cannot be read")


def test_a_path_with_a_nul_byte():
    assert error_of(config_file="a\0b").startswith("config file 'a\\x00b' cannot be read")


def test_a_file_that_is_not_utf8(tmp_path):
    path = tmp_path / "latin1.toml"
    path.write_bytes('tag_value = "caf\xe9"\n'.encode("latin-1"))
    assert error_of(config_file=str(path)) == f"config file {path}: not UTF-8 text (bad byte at offset 16)"


def test_flag_errors_win_over_nothing_but_a_bad_lower_source_still_counts(tmp_path):
    # A bad value in a source that is overridden is never parsed: only the winning value matters.
    path = write_config(tmp_path, "concurrency = 0\n")
    assert resolve({"concurrency": 5}, {"ASGPATCH_CONCURRENCY": "zero"}, path).concurrency == 5


def test_describe_sources_names_every_key():
    text = describe_sources()
    assert "flag, environment variable, config file" in text
    for key in KEYS:
        assert key.flag in text and key.env in text


# --- property: arbitrary environment text never escapes as anything but ConfigError ---------------------------

ENV_NAMES = [key.env for key in KEYS] + ["ASGPATCH_CONFIG"]


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(ENV_NAMES), st.text(max_size=40), max_size=len(ENV_NAMES)))
def test_any_environment_text_resolves_or_raises_config_error(environ):
    try:
        config = resolve({}, environ, None)
    except ConfigError as error:
        assert str(error) and "\n" not in str(error)
    else:
        assert isinstance(config, RunConfig)


@pytest.mark.parametrize(
    ("value", "message"),
    [("tomorrow", "must be an ISO 8601 time"), ("2026-12-09T06:00:00", "needs a time zone")],
)
def test_a_deadline_must_be_an_unambiguous_time(value, message):
    with pytest.raises(ConfigError, match=message):
        resolve({"deadline": value}, {})
    assert resolve({"deadline": "2026-12-09T07:00:00+01:00"}, {}).settings.deadline == 1_796_796_000.0
