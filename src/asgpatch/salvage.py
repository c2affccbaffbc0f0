"""What a run does with an `asgpatch:state` tag it cannot read: restore the group as safely as the tag allows.

A tag becomes unreadable when someone edits it by hand, a tool cuts it short, or a newer asgpatch
wrote it. Guessing would be worse than doing nothing, so:

- a newer format is left untouched and reported failed: only the asgpatch that wrote it knows what
  its fields mean (its `recover` can restore the group);
- otherwise each field is read on its own, and the group is restored from the ones that can be read —
  the recorded capacity (repaired when it is not min <= desired <= max), the processes asgpatch
  suspended, the patch instance (a recorded id only if it is still in the group and protected, as
  asgpatch leaves it; else the one instance the group did not have before) — and left as it is where
  they cannot, with the report saying which;
- nothing the stopped run may have created is deleted: an image whose template version could not be
  read may be in use, and a leaked AMI is cheaper than a template pointing at a missing one.

When all a restore needs could be read, the tag is first rewritten in a readable form naming this
run, and the group ends restored and untagged. When not, the unreadable tag is kept (the run acts only
while it is unchanged), so every later run restores the same parts and reports the group again until
an operator sets the rest and deletes the tag. Either way the group is reported `failed`, so the exit
code asks an operator to look.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from asgpatch.decision import LEAVING
from asgpatch.model import ISOLATING_PROCESSES, Capacity, GroupView, Job, Outcome, Phase
from asgpatch.state import (
    FIELDS_BY_VERSION,
    INCOMPLETE,
    PROCESS_NAMES,
    REASON_TAG,
    STATE_TAG,
    NewerStateError,
    StateError,
    decode,
    was_there,
)

INSTANCE_ID = re.compile(r"i-[0-9a-f]{8,17}")
CAPACITY = re.compile(r"(\d{1,6}),(\d{1,6}),(\d{1,6})")


@dataclass(frozen=True)
class Refused:
    """A state tag this asgpatch must not act on; the group is reported failed and left untouched."""

    reason: str


def read_state(group: GroupView, run_id: str, now: float) -> Job | Refused:
    """The job the group's state tag records; a salvaged restoring job when it is unreadable; Refused
    when a newer asgpatch wrote it."""
    value = group.tags.get(STATE_TAG, "")
    try:
        return decode(group.name, value, group.tags.get(REASON_TAG, ""))
    except NewerStateError as error:
        return Refused(f"{STATE_TAG} tag written by a newer asgpatch ({error}); left untouched for it to finish "
                       "or recover")  # fmt: skip
    except StateError as error:
        return salvage(group, run_id, str(error), now)


def salvage(group: GroupView, run_id: str, error: str, now: float) -> Job:
    """A RESTORING job built from the fields of an unreadable tag that can still be read."""
    value = group.tags.get(STATE_TAG, "")
    fields = value.split("|")
    if fields[0] not in FIELDS_BY_VERSION:
        fields = []  # not a layout asgpatch knows: no position can be trusted
    field = _Fields(fields)
    original, capacity_note = repaired_capacity(field[3])
    was, we = _processes(field[4]), _processes(field[5])
    if we is None and was is not None:
        we = ISOLATING_PROCESSES - was
    instance = _patch_instance(group, field[8], original, field[14])
    unknown = []
    if original is None:
        unknown.append("its capacity (left as it is)")
    elif instance is None and group.capacity.desired > original.desired > 0:
        unknown.append("which instance is the patch instance (left in the group, protected)")
    if we is None:
        unknown.append("which processes asgpatch suspended (left suspended)")
    reason = f"unreadable {STATE_TAG} tag ({error}); restored from the fields that could be read"
    if capacity_note:
        reason += f"; {capacity_note}"
    if unknown:
        reason += (
            f"; could not read {' or '.join(unknown)}: set them by hand, then delete the {STATE_TAG} tag "
            "(kept until then, so every run reports the group)"
        )
    return Job(
        group=group.name,
        run_id=run_id,
        owner=run_id,
        phase=Phase.RESTORING,
        phase_started=now,
        original=original,
        was_suspended=was or frozenset(),
        we_suspended=we or frozenset(),
        instance_id=instance,
        outcome=Outcome.FAILED,
        reason=reason,
        salvaged_from=value,
        partly_read=bool(unknown),
    )


class _Fields:
    """Field i of a tag, or None when the tag does not have it."""

    def __init__(self, fields: list[str]) -> None:
        self.fields = fields

    def __getitem__(self, index: int) -> str | None:
        return self.fields[index].strip() if index < len(self.fields) else None


def repaired_capacity(text: str | None) -> tuple[Capacity | None, str]:
    """(capacity, note): three whole numbers read as min,max,desired; when they are not
    min <= desired <= max, the limits are put in order and desired is clamped between them — the
    repair that never leaves a group smaller than either recorded limit allows."""
    match = CAPACITY.fullmatch(text or "")
    if match is None:
        return None, ""
    low, high, desired = (int(part) for part in match.groups())
    if low <= desired <= high:
        return Capacity(low, high, desired), ""
    low, high = min(low, high), max(low, high)
    repaired = Capacity(low, high, min(max(desired, low), high))
    return repaired, f"recorded capacity {text} is not min,max,desired with min <= desired <= max; used {repaired}"


def _patch_instance(group: GroupView, text: str | None, original: Capacity | None, before: str | None) -> str | None:
    """The recorded instance, trusted only as asgpatch leaves its patch instance: in the group and
    protected from scale in (a hand-edited id must not get a serving instance terminated). When no id was
    recorded or it cannot be read: the one instance the group did not have before the scale-up — a group
    at zero had none; a running group's are listed in the tag until the patch instance is in service —
    and nothing when that is not exactly one."""
    if text and INSTANCE_ID.fullmatch(text):
        instance = group.instance(text)
        return text if instance is not None and instance.protected else None
    if original is None:
        return None
    earlier = frozenset(part for part in (before or "").split(",") if part)
    if original.desired > 0 and (not earlier or INCOMPLETE in earlier):
        return None  # the serving instances are not known
    new = [
        i.instance_id for i in group.instances if i.lifecycle not in LEAVING and not was_there(i.instance_id, earlier)
    ]
    return new[0] if len(new) == 1 else None


def _processes(text: str | None) -> frozenset[str] | None:
    if text is None or any(code not in PROCESS_NAMES for code in text):
        return None
    return frozenset(PROCESS_NAMES[code] for code in text)
