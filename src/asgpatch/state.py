"""The `asgpatch:state` tag: a job in at most 256 characters, so any later run can resume or restore.

Format (version 3), fields joined by "|":
    3|run|phase|min,max,desired|was|we|phase_started|launch_requested|instance|ready_at|command|image|
    template:source>new|source_image|preexisting|relaunches|outcome|isolated_since|patches|decremented
`isolated_since` is when asgpatch suspended the isolating processes (scheduled actions that came due
since then are applied on restore); `patches` the patch instance's compliance after the Install,
"installed,missing,failed"; `decremented` "1" once the restore took the patch instance out of a
running group with a decrement (so a scale-out meanwhile is not mistaken for a stand-in). The job's
reason is written beside it, in the same call, to its own tag `asgpatch:reason` (256 characters of
its own, so a long reason is never cut to make room). Version 2 kept the reason as a last field and
had none of the three before it; version 1 also lacked `relaunches` (read as 0) and `outcome`
(inferred). A version above FORMAT_VERSION is refused with NewerStateError: only the asgpatch that
wrote it knows what its fields mean.
Processes are written as one letter each (PROCESS_CODES); times as whole epoch seconds; empty means
unset. `preexisting` lists the last 8 characters of each instance the group had before the scale-up,
until the patch instance is in service (so a restarted run does not mistake a serving instance for
it); "+" when they do not all fit. A value this module cannot read
raises StateError, so callers can report the group and restore it as safely as possible (salvage.py)
instead of guessing.
"""

from __future__ import annotations

from dataclasses import replace

from asgpatch.model import Capacity, Job, Outcome, PatchCounts, Phase

STATE_TAG = "asgpatch:state"
REASON_TAG = "asgpatch:reason"  # the reason of a job in flight, written with its state
RESULT_TAG = "asgpatch:last-result"
LEASE_TAG = "asgpatch:lease"  # "<run id> <expiry epoch>": one run at a time per group
FORMAT_VERSION = "3"
FIELDS_BY_VERSION = {"1": 16, "2": 18, "3": 20}  # every version this asgpatch reads, and its number of fields
TAG_VALUE_LIMIT = 256

PROCESS_CODES = {
    "Launch": "L",
    "Terminate": "T",
    "HealthCheck": "H",
    "ReplaceUnhealthy": "R",
    "AZRebalance": "Z",
    "AlarmNotification": "A",
    "ScheduledActions": "S",
    "AddToLoadBalancer": "B",
    "InstanceRefresh": "I",
    "AddWarmPool": "W",
}
PROCESS_NAMES = {code: name for name, code in PROCESS_CODES.items()}
FIELDS = FIELDS_BY_VERSION[FORMAT_VERSION]
ID_SUFFIX = 8  # characters of an instance id kept to tell the group's earlier instances apart
INCOMPLETE = "+"  # in Job.preexisting: the list did not fit in the tag, so it is not the whole story


class StateError(ValueError):
    """The state tag cannot be read (corrupt, hand-edited, or from a newer asgpatch)."""


class NewerStateError(StateError):
    """The state tag was written by a newer asgpatch: its fields cannot be trusted to mean what ours do."""


def _processes(names: frozenset[str]) -> str:
    return "".join(sorted(PROCESS_CODES[name] for name in names if name in PROCESS_CODES))


def _read_processes(text: str) -> frozenset[str]:
    try:
        return frozenset(PROCESS_NAMES[code] for code in text)
    except KeyError as error:
        raise StateError(f"unknown process code {error.args[0]!r}") from None


def _time(value: float | None) -> str:
    return "" if value is None else str(int(value))


def _read_time(text: str) -> float | None:
    return float(int(text)) if text else None


def _int(value: int | None) -> str:
    return "" if value is None else str(value)


def encode(job: Job) -> str:
    """The tag value; always within the tag's 256 characters for a job the engine makes: what does not
    fit gives way, least needed first — the earlier instances become "+", then the source image (only
    named in the report and the image's tags; an alias such as `resolve:ssm:…` can be long) is left
    out. StateError only for a job no engine makes ('|' in an id, or ids too long for any room)."""
    for source_image in (job.source_image, None):
        fields = _fields(job, source_image)
        if any("|" in f for f in fields):
            raise StateError("a state field contains '|'")
        fields[14] = _preexisting(job, TAG_VALUE_LIMIT - len("|".join(fields)))
        value = "|".join(fields)
        if len(value) <= TAG_VALUE_LIMIT:
            return value
    raise StateError(f"state needs {len(value)} characters, more than the tag's {TAG_VALUE_LIMIT}")


def reason_value(job: Job) -> str:
    """The asgpatch:reason tag written with the state."""
    return job.reason[:TAG_VALUE_LIMIT]


def _fields(job: Job, source_image: str | None) -> list[str]:
    capacity = "" if job.original is None else f"{job.original.min},{job.original.max},{job.original.desired}"
    template = ""
    if job.template_id:
        template = f"{job.template_id}:{_int(job.source_version)}>{_int(job.new_version)}"
    return [
        FORMAT_VERSION,
        job.run_id,
        job.phase.value,
        capacity,
        _processes(job.was_suspended),
        _processes(job.we_suspended),
        _time(job.phase_started),
        _time(job.launch_requested),
        job.instance_id or "",
        _time(job.ready_at),
        job.command_id or "",
        job.image_id or "",
        template,
        source_image or "",
        "",  # preexisting: filled with what room is left
        _int(job.relaunches or None),
        job.outcome.value if job.outcome is not None else "",
        _time(job.isolated_since),
        "" if job.patches is None else f"{job.patches.installed},{job.patches.missing},{job.patches.failed}",
        "1" if job.decremented else "",
    ]


def _preexisting(job: Job, room: int) -> str:
    """Kept until the patch instance is in service (a failed launch sends the job back to pick again),
    and while a running group is restored (a stand-in for a patch instance that went without a
    decrement is told from the serving instances by it)."""
    restoring_running = job.phase is Phase.RESTORING and not job.was_at_zero
    if job.phase not in (Phase.PREPARING, Phase.LAUNCHING, Phase.WAITING_INSTANCE) and not restoring_running:
        return ""
    if not job.preexisting:
        return ""
    if INCOMPLETE in job.preexisting:
        return INCOMPLETE
    listed = ",".join(sorted(instance[-ID_SUFFIX:] for instance in job.preexisting))
    return listed if len(listed) <= room else INCOMPLETE


def was_there(instance_id: str, preexisting: frozenset[str]) -> bool:
    """Whether an instance was in the group before the scale-up (full ids in memory, suffixes from a tag)."""
    return instance_id in preexisting or instance_id[-ID_SUFFIX:] in preexisting


def split(value: str) -> list[str]:
    """The fields of a readable version's tag, widened to the current layout; an older version's last
    field, its reason, is kept as one more field at the end."""
    version = value.split("|", 1)[0]
    expected = FIELDS_BY_VERSION.get(version)
    if expected is None:
        if version.isdigit() and int(version) > int(FORMAT_VERSION):
            raise NewerStateError(f"state format {version} is newer than this asgpatch reads (up to {FORMAT_VERSION})")
        raise StateError(f"{version[:20]!r} is not a state format asgpatch knows")
    fields = value.split("|", expected - 1)
    if len(fields) < expected:
        raise StateError(f"state has {len(fields)} fields, expected {expected}")
    if version == "1":
        fields[15:15] = ["", ""]  # no relaunches yet; outcome inferred
    if version in ("1", "2"):
        fields[17:17] = ["", "", ""]  # no isolation time, no compliance, no decrement recorded yet
    return fields


def decode(group: str, value: str, reason_tag: str = "") -> Job:
    """The job a state tag records; `reason_tag` is the group's asgpatch:reason (version 3 keeps the
    reason there; older versions in their last field)."""
    fields = split(value)
    (_, run_id, phase, capacity, was, we, started, requested, instance, ready, command, image, template,
     source_image, preexisting, relaunches, outcome, isolated, patches, decremented,
     *older_reason) = fields  # fmt: skip
    reason = older_reason[0] if older_reason else reason_tag
    try:
        template_id, source_version, new_version = _read_template(template)
        job = Job(
            group=group,
            run_id=run_id,
            phase=Phase(phase),
            phase_started=_read_time(started) or 0.0,
            original=_read_capacity(capacity),
            was_suspended=_read_processes(was),
            we_suspended=_read_processes(we),
            launch_requested=_read_time(requested),
            instance_id=instance or None,
            ready_at=_read_time(ready),
            command_id=command or None,
            image_id=image or None,
            source_image=source_image or None,
            preexisting=frozenset(p for p in preexisting.split(",") if p),
            reason=reason,
            template_id=template_id,
            source_version=source_version,
            new_version=new_version,
            relaunches=int(relaunches) if relaunches else 0,
            outcome=Outcome(outcome) if outcome else None,
            isolated_since=_read_time(isolated),
            patches=_read_patches(patches),
            decremented=decremented == "1",
        )
    except ValueError as error:
        if isinstance(error, StateError):
            raise
        raise StateError(f"unreadable state: {error}") from None
    if not run_id:
        raise StateError("state names no run")
    if job.phase is Phase.RESTORING and job.outcome is None:
        # A version 1 tag keeps no outcome: a group restoring after its template was updated, with no
        # failure recorded, had been patched.
        patched = job.new_version is not None and not job.reason
        job = replace(job, outcome=Outcome.PATCHED if patched else Outcome.FAILED)
    return job


def _read_patches(text: str) -> PatchCounts | None:
    if not text:
        return None
    parts = text.split(",")
    if len(parts) != 3:
        raise StateError(f"patches {text!r} is not installed,missing,failed")
    installed, missing, failed = (int(p) for p in parts)
    return PatchCounts(installed, missing, failed)


def _read_capacity(text: str) -> Capacity | None:
    if not text:
        return None
    parts = text.split(",")
    if len(parts) != 3:
        raise StateError(f"capacity {text!r} is not min,max,desired")
    low, high, desired = (int(p) for p in parts)
    if min(low, high, desired) < 0:
        raise StateError(f"capacity {text!r} is negative")
    if not low <= desired <= high:
        raise StateError(f"recorded capacity {text!r} is not min <= desired <= max")
    return Capacity(low, high, desired)


def _read_template(text: str) -> tuple[str | None, int | None, int | None]:
    if not text:
        return None, None, None
    template_id, _, versions = text.partition(":")
    source, _, new = versions.partition(">")
    return template_id or None, int(source) if source else None, int(new) if new else None


def names_run(value: str | None, run_id: str) -> bool:
    """Whether a state tag value belongs to the run `run_id` (read without decoding the rest)."""
    if not value:
        return False
    version, _, rest = str(value).partition("|")
    return version in FIELDS_BY_VERSION and rest.startswith(f"{run_id}|")


def lease_value(owner: str, expires: float) -> str:
    return f"{owner} {int(expires)}"


def read_lease(value: str | None) -> tuple[str, float] | None:
    """(owner run id, expiry) or None; an unreadable lease counts as none (it cannot be honoured)."""
    if not value:
        return None
    owner, _, expires = value.rpartition(" ")
    if not owner or not expires.isdigit():
        return None
    return owner, float(expires)


def other_holder(value: str | None, me: str, now: float) -> tuple[str, float] | None:
    """The (run, expiry) of a live lease held by a run other than `me`, or None."""
    holder = read_lease(value)
    if holder is None or holder[0] == me or holder[1] <= now:
        return None
    return holder


def result_value(job: Job, at: float) -> str:
    """The `asgpatch:last-result` tag: run id, result, AMI and time, plus the reason or note if any."""
    outcome = (job.outcome or Outcome.FAILED).value
    stamp = _iso(at)
    value = f"{job.run_id} {outcome} {job.image_id or '-'} {stamp}"
    if job.reason:  # why it failed, or a note on a patched group (a relaunch, limits someone changed)
        value += " " + job.reason
    return value[:TAG_VALUE_LIMIT]


def _iso(at: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(at, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
