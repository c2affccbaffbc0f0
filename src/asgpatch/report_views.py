"""The report and the run for people at a terminal: the summary table, a plan's first actions, and the
live view while a run ticks (rich). Kept apart from report.py, whose data the Lambda uses without rich."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from asgpatch.model import Job, Phase
from asgpatch.report import IN_PROGRESS, MISSING, format_duration, summary_line

STATUS_STYLES = {
    "patched": "green",
    "failed": "bold red",
    "skipped": "yellow",
    "would-patch": "cyan",
    "would-restore": "magenta",
    "would-fail": "red",
    IN_PROGRESS: "blue",
}


def _versions(template: Mapping[str, Any]) -> str:
    previous, new = template["previous_version"], template["version"]
    if previous is not None and new is not None:
        return f"{previous} → {new}"
    if previous is not None or new is not None:
        return str(previous if previous is not None else new)
    return MISSING


def _capacity(capacity: Mapping[str, Any]) -> str:
    if any(capacity[part] is None for part in ("min", "max", "desired")):
        return MISSING
    return f"{capacity['min']}/{capacity['max']}/{capacity['desired']}"


def report_table(report: Mapping[str, Any]) -> Table:
    """The summary table. Cells are Text, never markup: group names and reasons are not ours to interpret."""
    table = Table(title=Text(f"asgpatch {report['run_id']}"), title_justify="left")
    for header in ("Group", "Status", "AMI", "Template", "Capacity", "Reason"):
        table.add_column(header, overflow="fold")
    for group in report["groups"]:
        table.add_row(
            Text(group["name"]),
            Text(group["status"], style=STATUS_STYLES.get(group["status"], "")),
            Text(group["image_id"] or MISSING),
            Text(_versions(group["launch_template"])),
            Text(_capacity(group["capacity"])),
            Text(group["reason"] or ""),
        )
    return table


def render_text(report: Mapping[str, Any], console: Console) -> None:
    """The end-of-run view: the table, then (for a plan) each group's first actions, then the one-line total."""
    console.print(report_table(report))
    planned = [group for group in report["groups"] if group.get("actions")]
    if planned:
        console.print(Text("First actions, as the run takes them (a group's later steps wait on AWS):"))
    for group in planned:
        console.print(Text(f"  {group['name']}:", style="bold"))
        for action in group["actions"]:
            console.print(Text(f"    - {action}"))
    console.print(Text(summary_line(report)))


# --- live view --------------------------------------------------------------------------------------------------


def _phase_text(job: Job) -> Text:
    if job.phase is Phase.DONE and job.outcome is not None:
        return Text(job.outcome.value, style=STATUS_STYLES.get(job.outcome.value, ""))
    return Text(job.phase.value)


def live_table(jobs: Sequence[Job], now: float) -> Table:
    """One row per group: its phase (or outcome, once done) and how long it has been in that phase."""
    table = Table(box=None, pad_edge=False)
    for header in ("Group", "Phase", "In phase", "Instance", "Note"):
        table.add_column(header, overflow="fold")
    for job in jobs:
        elapsed = MISSING if job.done else format_duration(now - job.phase_started)
        table.add_row(
            Text(job.group), _phase_text(job), Text(elapsed), Text(job.instance_id or MISSING), Text(job.reason)
        )
    return table


class LiveView:
    """Progress while a run ticks, for people at a terminal.

    Does nothing at all unless `console.is_terminal` (and `enabled`), so piped output, `--output json` and CI
    logs never see cursor codes. Give it a console on stderr, or enabled=False for --output json on a
    terminal. Refreshed only by `update`: the time comes from the caller's clock, never from here.
    Transient: it vanishes on stop, as the summary table follows.
    """

    def __init__(self, console: Console, *, enabled: bool = True) -> None:
        self.console = console
        self.active = enabled and console.is_terminal
        self._live: Live | None = None

    def __enter__(self) -> LiveView:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        if self.active and self._live is None:
            self._live = Live(console=self.console, auto_refresh=False, transient=True)
            self._live.start()

    def update(self, jobs: Sequence[Job], now: float) -> None:
        if not self.active:
            return
        self.start()
        assert self._live is not None
        self._live.update(live_table(jobs, now), refresh=True)

    def stop(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None
