"""When scheduled actions fire: recurrence in a time zone, start/end bounds, catching up after a jump."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from moto.autoscaling.exceptions import ValidationError

from asgpatch_sandbox.services.autoscaling_scheduled_actions import (
    latest_occurrence,
    next_fire_after,
    validate_recurrence,
)


@dataclass
class Action:
    recurrence: str | None = None
    start_time: str | None = None
    end_time: str | None = None
    time_zone: str | None = None


def ts(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def test_recurrence_is_read_in_utc_by_default():
    assert next_fire_after(Action("0 8 * * *"), ts("2026-11-27T07:00:00")) == ts("2026-11-27T08:00:00")
    assert next_fire_after(Action("0 8 * * *"), ts("2026-11-27T08:00:00")) == ts("2026-11-28T08:00:00")


def test_recurrence_is_read_in_its_time_zone():
    action = Action("0 8 * * *", time_zone="America/New_York")
    assert next_fire_after(action, ts("2026-11-27T00:00:00")) == ts("2026-11-27T13:00:00")  # EST = UTC-5
    summer = next_fire_after(action, ts("2026-07-01T00:00:00"))
    assert summer == ts("2026-07-01T12:00:00")  # EDT = UTC-4


def test_weekday_ranges():
    friday_evening = ts("2026-11-27T20:00:00")  # a Friday
    assert next_fire_after(Action("0 7 * * MON-FRI"), friday_evening) == ts("2026-11-30T07:00:00")


def test_start_and_end_bound_a_recurrence():
    bounded = Action("0 8 * * *", start_time="2026-12-01T08:00:00Z", end_time="2026-12-02T09:00:00Z")
    assert next_fire_after(bounded, ts("2026-11-27T00:00:00")) == ts("2026-12-01T08:00:00")
    assert next_fire_after(bounded, ts("2026-12-01T08:00:00")) == ts("2026-12-02T08:00:00")
    assert next_fire_after(bounded, ts("2026-12-02T08:00:00")) is None


def test_one_time_actions_are_due_at_their_start():
    assert next_fire_after(Action(start_time="2026-12-24T18:00:00Z"), ts("2026-11-27T00:00:00")) == ts(
        "2026-12-24T18:00:00"
    )


def test_latest_occurrence_catches_up_to_the_last_one():
    assert latest_occurrence(Action("0 8 * * *"), ts("2026-11-30T09:30:00")) == ts("2026-11-30T08:00:00")
    assert latest_occurrence(Action("0 8 * * *"), ts("2026-11-30T08:00:00")) == ts("2026-11-30T08:00:00")


@pytest.mark.parametrize("recurrence", ["0 4 ? * WED#2 *", "61 * * * *", "every day", "0 8 * *"])
def test_only_five_field_unix_cron_is_a_recurrence(recurrence):
    with pytest.raises(ValidationError):
        validate_recurrence(recurrence)
