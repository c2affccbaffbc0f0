"""Which scheduled actions came due while ScheduledActions was suspended, and where they leave a group."""

from __future__ import annotations

from datetime import UTC, datetime

from asgpatch.model import Capacity, ScheduledAction
from asgpatch.schedule import apply, due_between, due_within, latest_occurrence


def at(text: str) -> float:
    """An ISO time in UTC, as epoch seconds."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


UP = ScheduledAction("scale-up", recurrence="0 7 * * MON-FRI", min=1, max=4, desired=2)
DOWN = ScheduledAction("scale-down", recurrence="0 19 * * MON-FRI", min=0, max=4, desired=0)


def test_the_morning_scale_up_that_came_due_in_the_window_is_found_and_the_evening_one_is_not():
    # Wednesday 2026-12-09: the window opens at 04:00 UTC and runs past 07:00.
    due = due_between([UP, DOWN], since=at("2026-12-09T04:00:00"), now=at("2026-12-09T07:20:00"))
    assert [(d.action.name, d.at) for d in due] == [("scale-up", at("2026-12-09T07:00:00"))]
    assert str(due[0]) == "scale-up (due 2026-12-09T07:00Z)"


def test_only_the_latest_occurrence_of_each_action_counts_and_they_come_oldest_first():
    hourly = ScheduledAction("hourly", recurrence="0 * * * *", desired=3)
    due = due_between([hourly, UP], since=at("2026-12-09T04:30:00"), now=at("2026-12-09T09:10:00"))
    assert [(d.action.name, d.at) for d in due] == [
        ("scale-up", at("2026-12-09T07:00:00")),
        ("hourly", at("2026-12-09T09:00:00")),
    ]


def test_the_time_zone_is_honoured_across_daylight_saving():
    berlin = ScheduledAction("berlin-up", recurrence="0 7 * * *", time_zone="Europe/Berlin", desired=2)
    winter = latest_occurrence(berlin, at("2026-12-09T07:00:00"))
    summer = latest_occurrence(berlin, at("2026-07-08T06:00:00"))
    assert winter == at("2026-12-09T06:00:00")  # 07:00 CET is 06:00 UTC
    assert summer == at("2026-07-08T05:00:00")  # 07:00 CEST is 05:00 UTC


def test_start_and_end_time_bound_a_recurrence_and_a_one_time_action_comes_due_at_its_start():
    later = ScheduledAction("not-yet", recurrence="0 7 * * *", start=at("2026-12-10T00:00:00"), desired=2)
    ended = ScheduledAction("over", recurrence="0 7 * * *", end=at("2026-12-08T12:00:00"), desired=2)
    once = ScheduledAction("once", start=at("2026-12-09T05:00:00"), desired=5)
    due = due_between([later, ended, once], since=at("2026-12-09T04:00:00"), now=at("2026-12-09T08:00:00"))
    assert [d.action.name for d in due] == ["once"]
    assert latest_occurrence(ended, at("2026-12-09T08:00:00")) == at("2026-12-08T07:00:00")


def test_actions_apply_as_auto_scaling_applies_them():
    night = Capacity(0, 4, 0)
    assert apply(night, due_between([UP], at("2026-12-09T04:00:00"), at("2026-12-09T07:30:00"))) == Capacity(1, 4, 2)
    only_limits = ScheduledAction("limits", start=at("2026-12-09T05:00:00"), min=3, max=6)
    moved = due_between([only_limits], at("2026-12-09T04:00:00"), at("2026-12-09T06:00:00"))
    assert apply(Capacity(1, 4, 2), moved) == Capacity(3, 6, 3), "desired is pulled inside the new limits"
    impossible = ScheduledAction("bad", start=at("2026-12-09T05:00:00"), min=5)
    refused = due_between([impossible], at("2026-12-09T04:00:00"), at("2026-12-09T06:00:00"))
    assert apply(Capacity(0, 4, 0), refused) == Capacity(0, 4, 0), "min above max is refused: nothing changes"


def test_plan_lists_what_will_come_due_before_the_window_ends():
    due = due_within([UP, DOWN], start=at("2026-12-09T04:00:00"), end=at("2026-12-09T08:00:00"))
    assert [d.action.name for d in due] == ["scale-up"]


def test_a_recurring_actions_start_time_that_is_only_its_next_run_does_not_hide_the_one_just_skipped():
    """DescribeScheduledActions shows a recurring action's StartTime as its next occurrence, moved on
    once the skipped one passed; a start its owner set further out still bounds it."""
    now = at("2026-12-09T07:20:00")
    bookkeeping = ScheduledAction("scale-up", recurrence="0 7 * * *", start=at("2026-12-10T07:00:00"), desired=2)
    owners_start = ScheduledAction("from-january", recurrence="0 7 * * *", start=at("2027-01-04T00:00:00"), desired=2)
    due = due_between([bookkeeping, owners_start], since=at("2026-12-09T04:00:00"), now=now)
    assert [d.action.name for d in due] == ["scale-up"]
