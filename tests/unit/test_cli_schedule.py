"""`asgpatch schedule`: the next run times of a cron or rate expression in text and JSON (checked
against docs/schemas/schedule.schema.json), and one line with exit 2 for anything AWS would refuse.
No AWS: the command reads nothing but its arguments."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from asgpatch.cli import cli
from tests.schemas import assert_matches_schema

ASGPATCH = Path(sys.executable).parent / "asgpatch"


def schedule(*arguments: str) -> Result:
    return CliRunner().invoke(cli, ["schedule", *arguments])


def test_text_is_the_description_then_one_time_per_line():
    result = schedule("cron(0 4 ? * WED#2 *)", "--after", "2026-12-01T00:00:00Z", "--count", "3")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "At 04:00 on the second Wednesday of every month (UTC)",
        "2026-12-09T04:00:00+00:00",
        "2027-01-13T04:00:00+00:00",
        "2027-02-10T04:00:00+00:00",
    ]
    assert result.stderr == ""


def test_json_is_one_document_matching_its_schema():
    result = schedule("cron(30 1 * * ? *)", "--timezone", "America/New_York", "--after", "2027-11-06T12:00:00Z",
                      "--count", "2", "--output", "json")  # fmt: skip
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert_matches_schema(document, "schedule")
    assert document == {
        "expression": "cron(30 1 * * ? *)",
        "timezone": "America/New_York",
        "description": "At 01:30 every day (America/New_York)",
        "next": ["2027-11-07T01:30:00-04:00", "2027-11-08T01:30:00-05:00"],  # once on the repeated hour
    }


def test_the_default_count_is_five_and_after_defaults_to_now():
    result = schedule("rate(1 hour)", "--output", "json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert_matches_schema(document, "schedule")
    assert len(document["next"]) == 5
    assert document["description"] == "Every hour, counted from when the schedule is created"


def test_count_and_a_naive_after_read_in_the_zone():
    result = schedule("cron(0 9 ? * MON-FRI *)", "--after", "2027-01-01T09:00", "--timezone", "Europe/London",
                      "--count", "100", "--output", "json")  # fmt: skip
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert_matches_schema(document, "schedule")
    assert len(document["next"]) == 100
    assert document["next"][0] == "2027-01-04T09:00:00+00:00"  # 1 January 2027 is a Friday: 09:00 is not after it
    assert "2027-04-01T09:00:00+01:00" in document["next"]  # summer time


def test_the_expression_as_written_in_a_template_is_accepted():
    result = schedule('"cron(0 4 ? * 4#2 *)"', "--after", "2026-12-01T00:00:00Z", "--count", "1", "--output", "json")
    assert json.loads(result.stdout)["expression"] == "cron(0 4 ? * 4#2 *)"


@pytest.mark.parametrize(
    ("arguments", "line"),
    [
        (["cron(0 4 * * * *)"],
         'asgpatch: invalid schedule "cron(0 4 * * * *)": day-of-month and day-of-week: one of them must be ?'),
        (["cron(0 4 * * ?)"], 'asgpatch: invalid schedule "cron(0 4 * * ?)": cron takes 6 fields'),
        (["cron(0 4 ? * WED#6 *)"], "day-of-week: #6 is out of range"),
        (["rate(1 days)"], "rate unit: days must be singular"),
        (["garbage"], 'asgpatch: invalid schedule "garbage": expected cron(...) or rate(...)'),
        ([""], 'asgpatch: invalid schedule "": the schedule is empty'),
        (["cron(0 4 * * ? 2020)"], "year: every year it names is past; no run time after"),
        (["rate(1 hour)", "--timezone", "Mars/Olympus"], "asgpatch: --timezone: time zone 'Mars/Olympus' is not"),
        (["rate(1 hour)", "--after", "yesterday"], "asgpatch: --after: 'yesterday' is not an ISO 8601 time"),
        (["rate(1 hour)", "--count", "0"], "asgpatch: --count: '0' is not a whole number from 1 to 100"),
        (["rate(1 hour)", "--count", "101"], "asgpatch: --count: '101'"),
        (["rate(1 hour)", "--count", "many"], "asgpatch: --count: 'many'"),
        (["rate(1 hour)", "--output", "yaml"], "asgpatch: --output: 'yaml' is not text or json"),
    ],
)  # fmt: skip
def test_bad_input_is_exit_2_with_one_line(arguments: list[str], line: str):
    result = schedule(*arguments)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1 and line in result.stderr
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)  # sys.exit(2), nothing raised


def test_help_lists_the_command_and_its_options():
    listed = CliRunner().invoke(cli, ["--help"]).output
    assert "schedule" in listed
    help_text = " ".join(schedule("--help").output.split())
    for option in ("--count N", "--after ISO8601", "--timezone TZ", "--output [text|json]"):
        assert option in help_text
    assert "--region" not in help_text


@pytest.mark.skipif(not ASGPATCH.exists(), reason="the asgpatch script is not installed beside this Python")
def test_through_the_installed_script_a_bad_expression_is_one_line_and_no_traceback():
    done = subprocess.run([str(ASGPATCH), "schedule", "cron(0 4 ? * 4#2 * *)"], capture_output=True, text=True,
                          timeout=60, check=False)  # fmt: skip
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        'asgpatch: invalid schedule "cron(0 4 ? * 4#2 * *)": cron takes 6 fields (minutes hours day-of-month '
        "month day-of-week year), got 7; a leading seconds field is Maintenance Windows' alone"
    ]
