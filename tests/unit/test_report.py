"""The run report's JSON contract, the summary table and the live view."""

from __future__ import annotations

import io
import json

import pytest
from rich.console import Console

from asgpatch.model import Capacity, Job, Outcome, PatchCounts, Phase
from asgpatch.report import (
    GroupResult,
    build_report,
    format_duration,
    iso_utc,
    render_json,
    result_from_job,
    summary_line,
)
from asgpatch.report_views import LiveView, live_table, render_text

START = 1795752000.0  # 2026-11-27T04:00:00Z
FINISH = START + 192  # 3m12s later

PATCHED = GroupResult(
    name="web",
    status="patched",
    instance_id="i-0abc",
    image_id="ami-0new",
    template_id="lt-0123",
    previous_version=3,
    version=4,
    capacity=Capacity(0, 4, 0),
    patches=PatchCounts(installed=14, missing=0, failed=0),
)
FAILED = GroupResult(name="batch", status="failed", reason="patch command Failed", instance_id="i-0def")
SKIPPED = GroupResult(name="legacy", status="skipped", reason="uses a launch configuration")


def record_console() -> Console:
    return Console(record=True, width=160, file=io.StringIO(), force_terminal=False)


# --- the JSON contract ----------------------------------------------------------------------------------------


def test_times_are_iso_8601_utc_whole_seconds():
    assert iso_utc(START) == "2026-11-27T04:00:00Z"
    assert iso_utc(START + 0.9) == "2026-11-27T04:00:00Z"


def test_report_shape_key_for_key():
    report = build_report("20261127T040000Z-3f9a", START, FINISH, [PATCHED, FAILED])
    assert report == {
        "run_id": "20261127T040000Z-3f9a",
        "started_at": "2026-11-27T04:00:00Z",
        "finished_at": "2026-11-27T04:03:12Z",
        "groups": [
            {
                "name": "web",
                "account": None,
                "region": None,
                "status": "patched",
                "reason": None,
                "instance_id": "i-0abc",
                "image_id": "ami-0new",
                "launch_template": {"id": "lt-0123", "previous_version": 3, "version": 4},
                "capacity": {"min": 0, "max": 4, "desired": 0},
                "patches": {"installed": 14, "missing": 0, "failed": 0},
                "actions": None,
            },
            {
                "name": "batch",
                "account": None,
                "region": None,
                "status": "failed",
                "reason": "patch command Failed",
                "instance_id": "i-0def",
                "image_id": None,
                "launch_template": {"id": None, "previous_version": None, "version": None},
                "capacity": {"min": None, "max": None, "desired": None},
                "patches": None,
                "actions": None,
            },
        ],
    }
    assert list(report) == ["run_id", "started_at", "finished_at", "groups"]
    assert list(report["groups"][0]) == [
        "name", "account", "region", "status", "reason", "instance_id", "image_id", "launch_template", "capacity",
        "patches", "actions",
    ]  # fmt: skip


def test_plan_statuses_use_the_same_shape():
    plan = [
        GroupResult(name="web", status="would-patch", template_id="lt-0123", previous_version=3,
                    capacity=Capacity(0, 4, 0)),
        GroupResult(name="legacy", status="skipped", reason="uses a launch configuration"),
    ]  # fmt: skip
    report = build_report("plan-1", START, START, plan)
    assert [group["status"] for group in report["groups"]] == ["would-patch", "skipped"]
    assert report["groups"][0]["launch_template"] == {"id": "lt-0123", "previous_version": 3, "version": None}
    assert report["groups"][1]["reason"] == "uses a launch configuration"


def test_an_empty_reason_is_null():
    report = build_report("r", START, FINISH, [GroupResult(name="web", status="patched", reason="")])
    assert report["groups"][0]["reason"] is None


def test_an_unknown_status_is_refused():
    with pytest.raises(ValueError, match="unknown report status 'done'"):
        build_report("r", START, FINISH, [GroupResult(name="web", status="done")])


def test_no_groups():
    report = build_report("r", START, FINISH, [])
    assert report["groups"] == []
    assert summary_line(report) == "no groups in 3m12s"


def test_render_json_is_one_document_in_contract_order():
    report = build_report("r", START, FINISH, [PATCHED, FAILED, SKIPPED])
    text = render_json(report)
    assert json.loads(text) == report
    assert text.startswith('{\n  "run_id": "r",\n  "started_at"')
    assert list(json.loads(text)["groups"][0]["launch_template"]) == ["id", "previous_version", "version"]
    assert not text.endswith("\n")


def test_render_json_keeps_unicode_readable():
    report = build_report("r", START, FINISH, [GroupResult(name="wéb", status="skipped")])
    assert '"wéb"' in render_json(report)


# --- from a job -----------------------------------------------------------------------------------------------


def _job(**changes) -> Job:
    base = Job(
        group="web",
        run_id="r1",
        phase=Phase.DONE,
        original=Capacity(0, 4, 0),
        instance_id="i-0abc",
        image_id="ami-0new",
        template_id="lt-0123",
        source_version=3,
        new_version=4,
        outcome=Outcome.PATCHED,
    )
    return base.at(changes.pop("phase", base.phase), 0.0, **changes)


def test_a_patched_job():
    assert result_from_job(_job(), Capacity(1, 4, 1)) == GroupResult(
        name="web",
        status="patched",
        reason=None,
        instance_id="i-0abc",
        image_id="ami-0new",
        template_id="lt-0123",
        previous_version=3,
        version=4,
        capacity=Capacity(1, 4, 1),
    )


def test_capacity_falls_back_to_what_the_job_recorded():
    assert result_from_job(_job(), None).capacity == Capacity(0, 4, 0)
    assert result_from_job(_job(original=None), None).capacity is None


@pytest.mark.parametrize("outcome", list(Outcome))
def test_the_outcome_is_the_status(outcome):
    result = result_from_job(_job(outcome=outcome, reason="why"), None)
    assert (result.status, result.reason) == (outcome.value, "why")


def test_a_job_that_did_not_finish_is_reported_failed():
    result = result_from_job(_job(phase=Phase.IMAGING, outcome=None, new_version=None), None)
    assert (result.status, result.reason, result.version) == ("failed", "did not finish: stopped while imaging", None)


# --- text -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "text"), [(0, "0s"), (42.7, "42s"), (192, "3m12s"), (305, "5m05s"), (3900, "1h05m00s"), (-3, "0s")]
)
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


def test_render_text_shows_every_group_and_the_total():
    console = record_console()
    render_text(build_report("20261127T040000Z-3f9a", START, FINISH, [PATCHED, FAILED, SKIPPED]), console)
    text = console.export_text()
    assert "20261127T040000Z-3f9a" in text
    lines = text.splitlines()
    web = next(line for line in lines if "web" in line)
    for cell in ("patched", "ami-0new", "3 → 4", "0/4/0"):
        assert cell in web
    batch = next(line for line in lines if "batch" in line)
    assert "failed" in batch and "patch command Failed" in batch
    legacy = next(line for line in lines if "legacy" in line)
    assert "skipped" in legacy and "uses a launch configuration" in legacy
    assert lines[-1] == "1 patched, 1 failed, 1 skipped in 3m12s"


def test_summary_counts_only_statuses_that_occur_and_plan_wording():
    plan = build_report("p", START, START + 2, [GroupResult(name="a", status="would-patch")] * 3 + [SKIPPED])
    assert summary_line(plan) == "3 would patch, 1 skipped in 2s"
    run = build_report("r", START, FINISH, [PATCHED] * 4 + [FAILED] + [SKIPPED] * 2)
    assert summary_line(run) == "4 patched, 1 failed, 2 skipped in 3m12s"


def test_status_is_coloured():
    console = Console(record=True, width=160, file=io.StringIO(), force_terminal=True, color_system="standard")
    render_text(build_report("r", START, FINISH, [PATCHED, FAILED]), console)
    html = console.export_html(inline_styles=True)
    assert "color: #008000" in html or "color: #00ff00" in html  # green patched
    assert "#800000" in html or "#ff0000" in html  # red failed


def test_names_and_reasons_are_not_read_as_markup():
    console = record_console()
    odd = GroupResult(name="[bold]web[/bold]", status="failed", reason="[red]x[/] in [link]")
    render_text(build_report("r", START, FINISH, [odd]), console)
    text = console.export_text()
    assert "[bold]web[/bold]" in text and "[red]x[/] in [link]" in text


def test_template_and_capacity_cells_when_partly_known():
    console = record_console()
    partial = GroupResult(name="web", status="would-patch", template_id="lt-1", previous_version=7)
    render_text(build_report("r", START, FINISH, [partial]), console)
    row = next(line for line in console.export_text().splitlines() if "web" in line)
    assert " 7 " in row and "→" not in row


# --- live view --------------------------------------------------------------------------------------------------

JOBS = [
    Job(group="web", run_id="r", phase=Phase.PATCHING, phase_started=100.0, instance_id="i-0abc"),
    Job(group="batch", run_id="r", phase=Phase.LAUNCHING, phase_started=220.0),
    Job(group="api", run_id="r", phase=Phase.DONE, phase_started=200.0, outcome=Outcome.FAILED, reason="no SSM"),
]


def test_live_table_rows():
    console = record_console()
    console.print(live_table(JOBS, now=225.0))
    lines = console.export_text().splitlines()
    web = next(line for line in lines if "web" in line)
    assert "patching" in web and "2m05s" in web and "i-0abc" in web
    batch = next(line for line in lines if "batch" in line)
    assert "launching" in batch and "5s" in batch
    api = next(line for line in lines if "api" in line)
    assert "failed" in api and "no SSM" in api


def test_live_view_prints_nothing_when_not_a_terminal():
    out = io.StringIO()
    console = Console(file=out, record=True, width=160, force_terminal=False)
    assert not console.is_terminal
    with LiveView(console) as view:
        view.update(JOBS, now=225.0)
        view.update(JOBS, now=226.0)
    assert out.getvalue() == ""
    assert console.export_text() == ""


def test_live_view_can_be_disabled_on_a_terminal():
    out = io.StringIO()
    console = Console(file=out, width=160, force_terminal=True)
    with LiveView(console, enabled=False) as view:
        view.update(JOBS, now=225.0)
    assert out.getvalue() == ""


def test_live_view_renders_rows_on_a_terminal():
    out = io.StringIO()
    console = Console(file=out, width=160, force_terminal=True, color_system=None)
    view = LiveView(console)
    view.update(JOBS, now=225.0)  # starts on first update
    first = out.getvalue()
    assert "web" in first and "patching" in first and "2m05s" in first
    view.update(JOBS, now=230.0)
    assert "2m10s" in out.getvalue()[len(first) :]
    view.stop()
    view.stop()  # stopping twice is harmless
