"""Which bakes a run makes and which groups it leaves alone, on templates shared the way estates share them."""

from __future__ import annotations

from asgpatch.model import Capacity, GroupView, Job, Phase, TemplateRef, TemplateSpec, TemplateView
from asgpatch.sharing import Candidate, share, targets_of

T = "lt-0a1b2c3d4e5f60718"  # real-length launch template ids
U = "lt-0f9e8d7c6b5a49382"
ZERO, RUNNING = Capacity(0, 2, 0), Capacity(1, 3, 1)
W = "lt-07a6b5c4d3e2f1009"
X86, ARM = "ami-0x86aaaaaaaaaaaaaa", "ami-0armbbbbbbbbbbbbbb"
TEMPLATES = {
    T: TemplateView(T, "web", default_version=1, latest_version=2, images={1: X86, 2: ARM}),
    U: TemplateView(U, "api", default_version=3, latest_version=3, images={3: X86}),
    W: TemplateView(W, "batch", default_version=1, latest_version=1, images={1: X86}),
}


def view(name: str, *specs: tuple[str, str], capacity: Capacity = ZERO, suspended: frozenset[str] = frozenset(),
         mixed: bool = False) -> GroupView:  # fmt: skip
    main, *overrides = (TemplateSpec(t, v) for t, v in specs)
    ref = TemplateRef(main, mixed_policy=mixed or bool(overrides), overrides=tuple(overrides))
    return GroupView(name, capacity, tags={"ep:asg:patch": "true"}, suspended=suspended, template=ref)


def pending(group: GroupView) -> Candidate:
    return Candidate(group, Job(group=group.name, run_id="20261201T040000Z-ab12"))


def roles(candidates: list[Candidate], bystanders: list[GroupView] = ()):  # type: ignore[assignment, no-untyped-def]
    return share(candidates, [*bystanders, *(c.group for c in candidates)], TEMPLATES)


def test_groups_on_one_version_share_one_bake_hosted_by_a_group_at_zero():
    a, b, c = view("web-b", (T, "1"), capacity=RUNNING), view("web-a", (T, "$Default")), view("web-c", (T, "1"))
    found = roles([pending(a), pending(b), pending(c)])
    assert found.hosts == {"web-a"} and found.followers == {"web-b": "web-a", "web-c": "web-a"}
    assert found.skipped == {}


def test_a_new_version_that_would_become_a_bystanders_latest_skips_every_group_that_makes_one():
    tagged = view("web", (T, "1"))
    found = roles([pending(tagged)], [view("legacy", (T, "$Latest"))])
    assert set(found.skipped) == {"web"} and not found.hosts
    assert "legacy" in found.skipped["web"] and "$Latest" in found.skipped["web"] and "web" in found.skipped["web"]


def test_a_bystander_on_default_blocks_only_a_group_that_would_move_the_default():
    bystander = view("legacy", (T, "$Default"))
    on_default, pinned = view("web", (T, "$Default")), view("web-pinned", (T, "2"))
    found = roles([pending(on_default), pending(pinned)], [bystander])
    assert set(found.skipped) == {"web"} and "$Default" in found.skipped["web"] and "legacy" in found.skipped["web"]
    assert found.hosts == {"web-pinned"}, "a version from 2 moves no default (and nobody follows $Latest)"


def test_a_bystander_pinned_to_a_number_is_never_in_the_way():
    found = roles([pending(view("web", (T, "1")))], [view("legacy", (T, "1")), view("other", (T, "2"))])
    assert found.hosts == {"web"} and found.skipped == {}


def test_of_two_lineages_under_a_latest_follower_of_the_run_only_the_latest_one_is_made():
    old, latest = view("web-old", (T, "1")), view("web-new", (T, "$Latest"))
    found = roles([pending(old), pending(latest)])
    assert found.hosts == {"web-new"}
    assert set(found.skipped) == {"web-old"} and "pin it to a version" in found.skipped["web-old"]


def test_a_member_whose_owner_suspended_launch_follows_and_one_that_can_hosts():
    blocked = view("web-a", (T, "1"), suspended=frozenset({"Launch"}))
    able = view("web-b", (T, "1"), capacity=RUNNING)
    found = roles([pending(blocked), pending(able)])
    assert found.hosts == {"web-b"} and found.followers == {"web-a": "web-b"}


def test_a_bake_nobody_can_host_is_skipped_naming_the_suspended_process():
    found = roles([pending(view("web", (T, "1"), suspended=frozenset({"Terminate", "AZRebalance"})))])
    assert not found.hosts and "Terminate" in found.skipped["web"] and "AZRebalance" not in found.skipped["web"]


def test_an_override_on_another_image_is_no_target_and_one_on_the_same_image_is():
    mixed = view("web", (T, "1"), (T, "2"), (U, "$Latest"), mixed=True)
    assert targets_of(pending(mixed), TEMPLATES) == {(T, 1): ("1",), (U, 3): ("$Latest",)}


def test_an_override_that_names_another_bakes_version_is_skipped():
    api = view("api", (U, "3"))
    mixed = view("web", (T, "1"), (U, "3"), mixed=True)
    found = roles([pending(api), pending(mixed)])
    assert found.hosts == {"api"} and "api" in found.skipped["web"] and "--asg" in found.skipped["web"]


def test_a_job_in_flight_is_never_skipped_and_new_groups_on_its_version_follow_it():
    resumed = Candidate(
        view("web-a", (T, "1")),
        Job(group="web-a", run_id="20261201T030000Z-0001", phase=Phase.IMAGING, template_id=T, source_version=1),
    )
    found = roles([resumed, pending(view("web-b", (T, "1")))], [view("legacy", (T, "$Latest"))])
    assert "web-a" not in found.skipped and found.hosts == {"web-a"}
    assert "web-b" in found.skipped, "a new group still may not change what the bystander launches"


def test_a_skipped_latest_follower_becomes_a_bystander_for_the_others():
    api = view("api", (U, "3"))
    follows_latest = view("batch", (W, "$Latest"), (U, "3"), mixed=True)  # skipped: its override is api's bake
    pinned = view("batch-pinned", (W, "1"))
    found = roles([pending(api), pending(follows_latest), pending(pinned)])
    assert set(found.skipped) == {"batch", "batch-pinned"}
    assert "batch launches ($Latest)" in found.skipped["batch-pinned"]
    assert found.hosts == {"api"}
