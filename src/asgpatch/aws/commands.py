"""The patch command of every job in PATCHING, from one paginated ListCommandInvocations.

The listing is narrowed to AWS-RunPatchBaseline invocations since the earliest patching job began
(less a margin for clock skew), newest first, and stops as soon as every job's invocation is found.
It matches a job by its command id or, when a crash lost the id, by the natural key: the comment
`naming.command_comment(run, group)` on the job's instance. Anything the listing could not settle (a
page budget spent, a clock further off than the margin) is asked for one command at a time.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from asgpatch import naming
from asgpatch.aws.api import Api
from asgpatch.aws.permissions import reads
from asgpatch.cloud import CloudError
from asgpatch.model import CommandView, Job, Outcome, Phase

reads(__name__, "ssm:ListCommands", "ssm:ListCommandInvocations")

DOCUMENT = "AWS-RunPatchBaseline"
PAGE = 50  # ListCommandInvocations MaxResults limit
SKEW = 900.0  # seconds the local clock may run ahead of AWS's
SPARE_PAGES = 2
RUNNING = frozenset({"Pending", "InProgress", "Delayed", "Success", "Cancelling"})
TAIL = 240

Raw = dict[str, Any]


def command_view(invocation: Raw) -> CommandView:
    """The invocation's status; when it did not succeed, its details plus the tail of its output."""
    status = str(invocation.get("Status", ""))
    detail = str(invocation.get("StatusDetails", ""))
    if status not in RUNNING:
        output = " ".join(str(p.get("Output") or "") for p in invocation.get("CommandPlugins") or [])
        tail = " ".join(output.split())[-TAIL:]
        if tail:
            detail = f"{detail}: {tail}" if detail else tail
    return CommandView(command_id=str(invocation["CommandId"]), status=status, detail=detail)


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(max(0.0, epoch), tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class _Matcher:
    """Which listed invocation belongs to which job."""

    def __init__(self, jobs: Sequence[Job]) -> None:
        self.by_id = {job.command_id: job for job in jobs if job.command_id}
        self.by_comment: dict[tuple[str, str], Job] = {
            (naming.command_comment(job.run_id, job.group), str(job.instance_id)): job
            for job in jobs
            if not job.command_id and job.instance_id
        }
        self.found: dict[str, CommandView] = {}

    def offer(self, invocation: Raw) -> None:
        job = self.by_id.get(str(invocation.get("CommandId")))
        if job is None:
            job = self.by_comment.get((str(invocation.get("Comment")), str(invocation.get("InstanceId"))))
        elif job.instance_id and invocation.get("InstanceId") != job.instance_id:
            return
        if job is not None and job.group not in self.found:
            self.found[job.group] = command_view(invocation)

    @property
    def done(self) -> bool:
        return len(self.found) == len(self.by_id) + len(self.by_comment)


def observe_commands(api: Api, jobs: Iterable[Job]) -> dict[str, CommandView]:
    """Group -> its patch command, for jobs in PATCHING, and for jobs restoring without a patch (a
    command of theirs may still run and must be cancelled). Absent: no such command, or not listed yet."""
    patching = [j for j in jobs if _may_have_command(j) and (j.command_id or j.instance_id)]
    if not patching:
        return {}
    matcher = _Matcher(patching)
    since = min(j.launch_requested or j.phase_started for j in patching) - SKEW
    complete = _scan(api, matcher, since=since, budget=len(patching))
    for job in patching:
        if job.group in matcher.found:
            continue
        if job.command_id:
            found = _one(api, job.command_id, job.instance_id)
        elif not complete and job.instance_id:
            found = _by_comment(api, job)
        else:
            found = None
        if found is not None:
            matcher.found[job.group] = found
    return matcher.found


def _may_have_command(job: Job) -> bool:
    restoring = job.phase is Phase.RESTORING and job.outcome is not Outcome.PATCHED
    return job.phase is Phase.PATCHING or restoring


def _scan(api: Api, matcher: _Matcher, since: float, budget: int) -> bool:
    """Page through recent patch invocations; True when the listing was read to its end (or all found)."""
    filters = [{"key": "InvokedAfter", "value": _iso(since)}, {"key": "DocumentName", "value": DOCUMENT}]
    pages_allowed = -(-budget // PAGE) + SPARE_PAGES
    fn = api.ssm.list_command_invocations
    for number, page in enumerate(api.pages(fn, "CommandInvocations", Filters=filters, Details=True, MaxResults=PAGE)):
        for invocation in page:
            matcher.offer(invocation)
        if matcher.done:
            return True
        if number + 1 >= pages_allowed:
            return False
    return True


def _one(api: Api, command_id: str, instance_id: str | None) -> CommandView | None:
    params: dict[str, Any] = {"CommandId": command_id, "Details": True}
    if instance_id:
        params["InstanceId"] = instance_id
    try:
        answer = api.call(api.ssm.list_command_invocations, **params)
    except CloudError as error:
        if error.code == "InvalidCommandId":
            return None
        raise
    invocations = answer.get("CommandInvocations") or []
    return command_view(invocations[0]) if invocations else None


def _by_comment(api: Api, job: Job) -> CommandView | None:
    comment = naming.command_comment(job.run_id, job.group)
    filters = [{"key": "DocumentName", "value": DOCUMENT}]
    answer = api.call(api.ssm.list_commands, InstanceId=job.instance_id, Filters=filters, MaxResults=PAGE)
    for command in answer.get("Commands") or []:
        if command.get("Comment") == comment:
            return _one(api, str(command["CommandId"]), job.instance_id)
    return None
