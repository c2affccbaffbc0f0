"""SNS messages: one summary and one per failed group, within SNS's limits; publishing never raises."""

from __future__ import annotations

import json
from collections.abc import Mapping

from hypothesis import given
from hypothesis import strategies as st

from asgpatch.cloud import CloudError
from asgpatch.model import Capacity
from asgpatch.notify import MESSAGE_LIMIT, Notification, failure_messages, notify, summary_message
from asgpatch.report import GroupResult, build_report

START = 1795752000.0  # 2026-11-27T04:00:00Z
RUN = "20261127T040000Z-3f9a"

PATCHED = GroupResult(name="web", status="patched", image_id="ami-0new", template_id="lt-1", previous_version=3,
                      version=4, capacity=Capacity(0, 4, 0))  # fmt: skip
FAILED = GroupResult(name="batch", status="failed", reason="patch command Failed", instance_id="i-0def",
                     template_id="lt-2", previous_version=5, capacity=Capacity(2, 6, 2))  # fmt: skip
SKIPPED = GroupResult(name="legacy", status="skipped", reason="uses a launch configuration")


def report_of(*entries: GroupResult) -> dict:
    return build_report(RUN, START, START + 192, entries)


class FakeCloud:
    """Records what would be published; fails the calls whose subject contains `fail_on`."""

    def __init__(self, fail_on: str | None = None, error: Exception | None = None) -> None:
        self.published: list[tuple[str, str, str, Mapping[str, str]]] = []
        self.fail_on = fail_on
        self.error = error or CloudError("AuthorizationError", "not allowed to publish", "Publish")

    def publish(self, topic_arn: str, subject: str, message: str, attributes: Mapping[str, str]) -> None:
        if self.fail_on is not None and self.fail_on in subject:
            raise self.error
        self.published.append((topic_arn, subject, message, dict(attributes)))


def appended_json(message: str) -> object:
    return json.loads(message[message.index("\n\n{") + 2 :])


def assert_valid_subject(subject: str) -> None:
    assert 0 < len(subject) <= 99  # SNS: less than 100 characters
    assert subject.isascii() and subject.isprintable()
    assert "\n" not in subject and "\r" not in subject


# --- summary ----------------------------------------------------------------------------------------------------


def test_summary_of_a_good_run():
    note = summary_message(report_of(PATCHED, SKIPPED))
    assert note.attributes == {"status": "succeeded", "run_id": RUN}
    assert note.subject == f"asgpatch succeeded: 1 patched, 1 skipped in 3m12s (run {RUN})"
    assert_valid_subject(note.subject)
    assert note.message.startswith(f"asgpatch run {RUN} succeeded: 1 patched, 1 skipped in 3m12s.\n")
    assert "- web: patched, AMI ami-0new" in note.message
    assert "- legacy: skipped (uses a launch configuration)" in note.message
    assert appended_json(note.message) == report_of(PATCHED, SKIPPED)


def test_summary_of_a_run_with_a_failure():
    note = summary_message(report_of(PATCHED, FAILED))
    assert note.attributes == {"status": "failed", "run_id": RUN}
    assert note.subject.startswith("asgpatch failed: 1 patched, 1 failed")
    assert "- batch: failed (patch command Failed)" in note.message


def test_a_huge_report_leaves_the_json_out_but_stays_within_the_sns_limit():
    many = [GroupResult(name=f"group-{n:05d}", status="failed", reason="x" * 200) for n in range(3000)]
    note = summary_message(report_of(*many))
    assert len(note.message.encode("utf-8")) <= MESSAGE_LIMIT
    assert "The JSON is left out" in note.message
    assert note.message.startswith(f"asgpatch run {RUN} failed: 3000 failed in 3m12s.")


# --- failures ---------------------------------------------------------------------------------------------------


def test_one_message_per_failed_group():
    second = GroupResult(name="api", status="failed", reason="image failed")
    notes = failure_messages(report_of(PATCHED, FAILED, SKIPPED, second))
    assert [note.attributes for note in notes] == [
        {"status": "failed", "group": "batch", "run_id": RUN},
        {"status": "failed", "group": "api", "run_id": RUN},
    ]
    assert notes[0].subject == f"asgpatch failed: batch (run {RUN})"


def test_a_failure_message_explains_and_appends_the_group_json():
    report = report_of(FAILED)
    (note,) = failure_messages(report)
    assert note.message.startswith(f"Auto Scaling group batch failed in asgpatch run {RUN}.\n")
    assert "Reason: patch command Failed" in note.message
    assert "Capacity now: 2/6/2 (min/max/desired)" in note.message
    assert "Patch instance: i-0def; AMI: -" in note.message
    assert "Launch template: lt-2 version 5 -> -" in note.message
    assert appended_json(note.message) == report["groups"][0]


def test_no_failures_no_failure_messages():
    assert failure_messages(report_of(PATCHED, SKIPPED)) == []


def test_a_long_group_name_is_shortened_in_the_subject_but_whole_in_the_attributes():
    name = "g" * 255
    (note,) = failure_messages(report_of(GroupResult(name=name, status="failed", reason="r")))
    assert_valid_subject(note.subject)
    assert note.subject.startswith("asgpatch failed: ggg") and note.subject.endswith(f"... (run {RUN})")
    assert note.attributes["group"] == name


@given(st.text(min_size=1, max_size=300))
def test_any_group_name_gives_a_valid_subject(name):
    (note,) = failure_messages(report_of(GroupResult(name=name, status="failed")))
    assert_valid_subject(note.subject)


def test_non_ascii_and_newlines_are_replaced_in_subjects():
    (note,) = failure_messages(report_of(GroupResult(name="wéb\napp", status="failed")))
    assert note.subject == f"asgpatch failed: w?b app (run {RUN})"
    assert "wéb\napp" in note.message


# --- publishing -------------------------------------------------------------------------------------------------


def test_notify_publishes_the_summary_then_each_failure():
    cloud = FakeCloud()
    errors = notify(cloud, "arn:aws:sns:us-east-1:123456789012:t", report_of(PATCHED, FAILED))
    assert errors == []
    assert [(topic, attributes["status"]) for topic, _, _, attributes in cloud.published] == [
        ("arn:aws:sns:us-east-1:123456789012:t", "failed"),
        ("arn:aws:sns:us-east-1:123456789012:t", "failed"),
    ]
    assert "group" not in cloud.published[0][3] and cloud.published[1][3]["group"] == "batch"


def test_a_publish_failure_is_returned_not_raised_and_the_rest_still_go():
    cloud = FakeCloud(fail_on="succeeded")
    errors = notify(cloud, "arn:aws:sns:us-east-1:123456789012:t", report_of(PATCHED))
    assert len(errors) == 1
    assert "not sent" in errors[0] and "AuthorizationError" in errors[0]
    cloud = FakeCloud(fail_on="batch")
    errors = notify(cloud, "arn:aws:sns:us-east-1:123456789012:t", report_of(FAILED))
    assert len(errors) == 1 and len(cloud.published) == 1


def test_even_an_unexpected_error_is_returned():
    cloud = FakeCloud(fail_on="asgpatch", error=RuntimeError("adapter bug"))
    errors = notify(cloud, "arn:aws:sns:us-east-1:123456789012:t", report_of(FAILED))
    assert len(errors) == 2 and all("adapter bug" in error for error in errors)


def test_notification_is_plain_data():
    note = Notification(subject="s", message="m", attributes={"status": "failed"})
    assert note == Notification("s", "m", {"status": "failed"})
