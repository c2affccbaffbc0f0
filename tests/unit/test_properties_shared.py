"""Properties of runs over shared launch templates, on the in-memory cloud: any mix of groups naming
one template by any version specification, tagged or not, with odd and long names, images behind
`resolve:ssm:` aliases, failures, and a crash. Whatever happens:
- what a group outside the run launches is never changed ($Latest and $Default included);
- each run bakes a template version at most once, and every group it reports patched launches an
  image made from a version the group launched when a run started, with everything else of it;
- every group ends at its capacity, with only the processes its owner suspended, and a group the
  run skipped is untouched.
"""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass
from typing import Any

from hypothesis import event, given
from hypothesis import strategies as st

from asgpatch import naming, runner
from asgpatch.actions import Action
from asgpatch.clock import FakeClock
from asgpatch.config import RunConfig
from asgpatch.model import Capacity
from asgpatch.state import RESULT_TAG, STATE_TAG
from tests.fakes import FakeCloud, FakeTemplate
from tests.unit.test_properties import ENGINE_SETTINGS, POLL, PROPERTY_SETTINGS, Killed

TEMPLATE = "lt-0c0ffee0c0ffee0c0"
NAMES = ["web", "web+a", "web=a", "web a", "web/a", "api-eu-west-1-blue", "w" * 255]
KNOBS = {"none": {}, "patch-fail": {"patch": "fail"}, "image-fail": {"image": "fail"}, "partial": {"patch": "partial"}}
ALIAS = "resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"


def ami(seed: str) -> str:
    return "ami-0" + hashlib.sha256(seed.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Member:
    name: str
    spec: str  # "$Latest", "$Default" or a version number
    tagged: bool
    at_zero: bool
    knob: str


@dataclass(frozen=True)
class Estate:
    members: tuple[Member, ...]
    versions: int
    default: int
    aliased: frozenset[int]  # versions whose ImageId is a resolve:ssm: alias
    crash_after: int | None


@st.composite
def estates(draw: st.DrawFn) -> Estate:
    versions = draw(st.integers(1, 3))
    names = draw(st.lists(st.sampled_from(NAMES), min_size=2, max_size=4, unique=True))
    specs = ["$Latest", "$Default", *(str(n) for n in range(1, versions + 1))]
    members = tuple(
        Member(
            name,
            draw(st.sampled_from(specs)),
            draw(st.booleans()),
            draw(st.booleans()),
            draw(st.sampled_from(sorted(KNOBS))),
        )
        for name in names
    )
    aliased = draw(st.frozensets(st.integers(1, versions)))
    crash = draw(st.none() | st.integers(1, 30))
    return Estate(members, versions, draw(st.integers(1, versions)), aliased, crash)


def build(estate: Estate) -> tuple[FakeCloud, FakeClock]:
    clock = FakeClock()
    cloud = FakeCloud(clock)
    images = {n: ami(f"base-{n}") for n in range(1, estate.versions + 1)}
    cloud.templates[TEMPLATE] = FakeTemplate(
        TEMPLATE, estate.default, images, {n: f"initial {n}" for n in images},
        {n: {"InstanceType": f"t3.size{n}", "UserData": f"bootstrap {n}"} for n in images},
        aliases={n: ALIAS for n in estate.aliased},
    )  # fmt: skip
    for member in estate.members:
        capacity = Capacity(0, 2, 0) if member.at_zero else Capacity(1, 3, 1)
        tags = {"ep:asg:patch": "true"} if member.tagged else {"team": "payments"}
        cloud.add_group(member.name, capacity, template_id=TEMPLATE, version=member.spec, tags=tags,
                        fail=dict(KNOBS[member.knob]))  # fmt: skip
    clock.sleep(3600)
    return cloud, clock


def launches(cloud: FakeCloud, name: str) -> tuple[int, str, dict[str, str]]:
    """(version number, image, data) a group launches from now."""
    group, template = cloud.groups[name], cloud.templates[TEMPLATE]
    number = {"$Default": template.default, "$Latest": max(template.images)}.get(group.version)
    number = number if number is not None else int(group.version)
    return number, template.images[number], template.data_of(number)


def run_once(cloud: FakeCloud, clock: FakeClock, run_id: str, kill_after: int | None = None) -> dict[str, Any] | None:
    done = {"actions": 0}

    def on_action(action: Action) -> None:
        done["actions"] += 1
        if kill_after is not None and done["actions"] >= kill_after:
            raise Killed

    config = RunConfig(poll_seconds=POLL, settings=ENGINE_SETTINGS)
    with contextlib.suppress(Killed):
        return runner.run(cloud, config, run_id, clock, on_action=on_action)
    clock.sleep(ENGINE_SETTINGS.lease_seconds + POLL)
    return None


@PROPERTY_SETTINGS
@given(estates())
def test_shared_templates_never_change_a_bystander_and_each_version_is_baked_once(estate: Estate):
    cloud, clock = build(estate)
    before = {m.name: launches(cloud, m.name) for m in estate.members}
    capacity = {m.name: cloud.groups[m.name].capacity for m in estate.members}
    runs = ["20261201T040000Z-0a0a", "20261201T050000Z-0b0b", "20261201T060000Z-0c0c"]
    launched = {m.name: {before[m.name][0]} for m in estate.members}  # at the start of each run
    report = run_once(cloud, clock, runs[0], estate.crash_after)
    for run_id in runs[1:]:
        if report is not None and not any(STATE_TAG in g.tags for g in cloud.groups.values()):
            break
        for member in estate.members:
            launched[member.name].add(launches(cloud, member.name)[0])
        report = run_once(cloud, clock, run_id)
    assert report is not None, "the runs after a crash finish"
    entries = {entry["name"]: entry for entry in report["groups"]}
    template = cloud.templates[TEMPLATE]

    for member in estate.members:
        group = cloud.groups[member.name]
        assert STATE_TAG not in group.tags, f"{member.name} left in flight"
        assert group.capacity == capacity[member.name], f"{member.name}: {group.capacity}"
        assert group.suspended == set(), f"{member.name} left suspended: {group.suspended}"
        if not member.tagged:
            assert launches(cloud, member.name) == before[member.name], f"bystander {member.name} changed"
            assert RESULT_TAG not in group.tags
            continue
        entry = entries.get(member.name)
        status = entry["status"] if entry else group.tags[RESULT_TAG].split(" ")[1]
        event(f"tagged {member.spec}: {status}")
        if status == "patched":
            number, image, data = launches(cloud, member.name)
            source = naming.version_source(template.descriptions[number])
            # after a crash a run may start from a version a stopped run made (a $Latest follower launched it)
            assert source in launched[member.name], f"{member.name} launches a bake of version {source}"
            assert data == before[member.name][2], "the new version keeps everything but the image"
            assert image in {i.image_id for i in cloud.images_made.values() if not i.deregistered}
            if before[member.name][0] in estate.aliased and entry is not None:
                assert "no longer follows" in (entry["reason"] or ""), entry
        elif status == "skipped" and entry is not None and "launch template" in (entry["reason"] or ""):
            assert launches(cloud, member.name) == before[member.name], f"skipped {member.name} was changed"

    for run_id in runs:
        made = [d for d in template.descriptions.values() if naming.mentions_run(d, run_id)]
        sources = [naming.version_source(d) for d in made]
        assert len(sources) == len(set(sources)), f"run {run_id} made two versions from one: {made}"
        baked = [i for i in cloud.images_made.values() if run_id in i.name]
        lineages = {before[m.name][0] for m in estate.members if m.tagged}
        assert len(baked) <= len(lineages), f"run {run_id} baked {len(baked)} images for {len(lineages)} versions"
