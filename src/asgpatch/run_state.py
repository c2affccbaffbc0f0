"""RunState: everything a run knows between ticks, as one JSON document with a schema version.

A tick is `state, cloud, now -> state` (runner.tick_state); nothing else survives between ticks, so a
run can live in a file or S3 (run_store.py) and each tick can be a fresh process or Lambda invocation.
The group's own tags stay the durable truth for the group (a run whose state is lost is resumed from
them); RunState is the run's: its id and settings, the roster (every group's job, with what a tag does
not carry: the claim, the shared bake, a salvaged tag), the failure counters, the heartbeat, the groups
it did not take on, and — once it is over — its report lines.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from asgpatch.model import Capacity, Job, Outcome, PatchCounts, Phase, Settings
from asgpatch.report import GroupResult

SCHEMA = 2  # 2: a job's failure counters moved onto the job (schema 1 is still read)


class RunStateError(ValueError):
    """A stored document that is not a run state this asgpatch can read."""


@dataclass(frozen=True)
class RunState:
    run_id: str
    started_at: float
    settings: Settings
    concurrency: int
    poll_seconds: float
    jobs: tuple[Job, ...] = ()
    not_taken: tuple[GroupResult, ...] = ()  # skipped or refused at intake, reported as they were
    last_heartbeat: float | None = None  # when the run last renewed its leases
    observe_errors: int = 0  # consecutive ticks whose batched read failed
    # (account, region, group) the last tick's time budget left: the next tick starts with them
    not_reached: tuple[tuple[str, str, str], ...] = ()
    ticks: int = 0
    shards: tuple[tuple[str, str], ...] = ()  # (account, region) the run covers: a tick elsewhere is refused
    finished_at: float | None = None  # set once every job is done
    results: tuple[GroupResult, ...] = ()  # the report lines, once finished

    @property
    def done(self) -> bool:
        return self.finished_at is not None


# --- encoding ---------------------------------------------------------------------------------------


def _capacity(value: Capacity | None) -> list[int] | None:
    return None if value is None else [value.min, value.max, value.desired]


def _patches(value: PatchCounts | None) -> list[int] | None:
    return None if value is None else [value.installed, value.missing, value.failed]


def _job(job: Job) -> dict[str, Any]:
    encoded: dict[str, Any] = {}
    for spec in fields(Job):
        value = getattr(job, spec.name)
        if isinstance(value, frozenset):
            value = sorted(value)
        elif isinstance(value, Capacity):
            value = _capacity(value)
        elif isinstance(value, PatchCounts):
            value = _patches(value)
        elif isinstance(value, (Phase, Outcome)):
            value = value.value
        encoded[spec.name] = value
    return encoded


def _result(result: GroupResult) -> dict[str, Any]:
    return {
        **{f.name: getattr(result, f.name) for f in fields(GroupResult)},
        "capacity": _capacity(result.capacity),
        "patches": _patches(result.patches),
    }


def encode(state: RunState) -> bytes:
    document = {
        "schema": SCHEMA,
        "run_id": state.run_id,
        "started_at": state.started_at,
        "settings": asdict(state.settings),
        "concurrency": state.concurrency,
        "poll_seconds": state.poll_seconds,
        # a row per job under one list of field names: a thousand groups do not repeat them a thousand times
        "job_fields": JOB_FIELDS,
        "jobs": [list(_job(job).values()) for job in state.jobs],
        "not_taken": [_result(result) for result in state.not_taken],
        "last_heartbeat": state.last_heartbeat,
        "observe_errors": state.observe_errors,
        "not_reached": [list(place) for place in state.not_reached],
        "ticks": state.ticks,
        "shards": [list(shard) for shard in state.shards],
        "finished_at": state.finished_at,
        "results": [_result(result) for result in state.results],
    }
    return json.dumps(document, separators=(",", ":"), sort_keys=False).encode()


# --- decoding ---------------------------------------------------------------------------------------


SETS = frozenset({"was_suspended", "we_suspended", "preexisting"})
JOB_FIELDS = [spec.name for spec in fields(Job)]


def _read_capacity(value: Any) -> Capacity | None:
    return None if value is None else Capacity(*(int(v) for v in value))


def _read_patches(value: Any) -> PatchCounts | None:
    return None if value is None else PatchCounts(*(int(v) for v in value))


def _read_job(raw: Mapping[str, Any]) -> Job:
    known = {spec.name for spec in fields(Job)}
    values: dict[str, Any] = {name: value for name, value in raw.items() if name in known}
    for name in SETS & set(values):
        values[name] = frozenset(values[name])
    values["phase"] = Phase(values["phase"])
    values["outcome"] = Outcome(values["outcome"]) if values.get("outcome") else None
    values["original"] = _read_capacity(values.get("original"))
    values["patches"] = _read_patches(values.get("patches"))
    return Job(**values)


def _read_result(raw: Mapping[str, Any]) -> GroupResult:
    values = dict(raw)
    values["capacity"] = _read_capacity(values.get("capacity"))
    values["patches"] = _read_patches(values.get("patches"))
    values["actions"] = None if values.get("actions") is None else tuple(values["actions"])
    return GroupResult(**values)


def _from_schema_1(raw: dict[str, Any]) -> dict[str, Any]:
    """Schema 1 kept the failure counters beside the jobs, keyed by group: they move onto the jobs."""
    try:
        errors, looked = dict(raw.pop("restore_errors")), set(raw.pop("looked_again"))
        names = [*raw["job_fields"], "failures"]
        group = names.index("group")
        rows = [[*row, int(errors.get(row[group], 1 if row[group] in looked else 0))] for row in raw["jobs"]]
    except (KeyError, TypeError, ValueError, IndexError) as error:
        raise RunStateError(f"a run state with a missing or malformed field: {error}") from None
    return {**raw, "job_fields": names, "jobs": rows}


def _read_shards(raw: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    if "shards" in raw:
        return tuple((str(account), str(region)) for account, region in raw["shards"])
    return (("", str(raw["region"])),) if raw.get("region") else ()  # schema 1: one region, account unknown


def decode(document: bytes) -> RunState:
    try:
        raw = json.loads(document)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise RunStateError(f"not JSON: {error}") from None
    if not isinstance(raw, dict):
        raise RunStateError("not a run state (a JSON object is expected)")
    schema = raw.get("schema")
    if schema == 1:
        raw = _from_schema_1(raw)
    elif schema != SCHEMA:
        newer = isinstance(schema, int) and schema > SCHEMA
        why = f"written by a newer asgpatch (schema {schema})" if newer else f"unknown schema {schema!r}"
        raise RunStateError(f"{why}; this asgpatch reads schema {SCHEMA}")
    try:
        return RunState(
            run_id=str(raw["run_id"]),
            started_at=float(raw["started_at"]),
            settings=Settings(**raw["settings"]),
            concurrency=int(raw["concurrency"]),
            poll_seconds=float(raw["poll_seconds"]),
            jobs=tuple(_read_job(dict(zip(raw["job_fields"], row, strict=True))) for row in raw["jobs"]),
            not_taken=tuple(_read_result(result) for result in raw["not_taken"]),
            last_heartbeat=None if raw["last_heartbeat"] is None else float(raw["last_heartbeat"]),
            observe_errors=int(raw["observe_errors"]),
            not_reached=tuple((str(a), str(r), str(g)) for a, r, g in raw.get("not_reached", ())),
            ticks=int(raw["ticks"]),
            shards=_read_shards(raw),
            finished_at=None if raw["finished_at"] is None else float(raw["finished_at"]),
            results=tuple(_read_result(result) for result in raw["results"]),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise RunStateError(f"a run state with a missing or malformed field: {error}") from None
