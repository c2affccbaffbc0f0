"""One tick of a run kept in a run store, whoever invokes it — `asgpatch tick` or the Lambda handler: hold
the run, load it (or start it), tick once, save. It decides nothing beyond how the tick ended; both
callers only turn the outcome into their own form (an exit code, an execution's output)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from asgpatch.abandoning import abandon
from asgpatch.actions import Action
from asgpatch.clock import Clock
from asgpatch.cloud import CloudError
from asgpatch.config import RunConfig
from asgpatch.naming import new_run_id
from asgpatch.run_state import RunState, RunStateError, decode, encode
from asgpatch.run_store import Busy, RunStore, StoreConflict, StoreError
from asgpatch.shards import Shard
from asgpatch.starting import start_all
from asgpatch.ticking import new_state, tick_state

HOLD_MARGIN = 60.0  # with a time budget: how long past it another tick waits for this one to be gone
HOLD_WITHOUT_BUDGET = 900.0  # without one (S3 only: a file's lock dies with its process)


class TickRefused(Exception):
    """Bad usage found before anything changed: an unreadable state, a run of other regions."""


@dataclass(frozen=True)
class Ticked:
    state: RunState | None  # None: another tick held the run, so this one read nothing
    goes_on: bool  # the run is not over (also when this tick's result was dropped)
    dropped: str | None = None  # why this tick did nothing, or why its result is not the run's


def tick_once(
    store: RunStore,
    shards: Sequence[Shard],
    config: RunConfig,
    clock: Clock,
    out_of_time: Callable[[], bool] | None = None,
    on_action: Callable[[Action], None] | None = None,
    give_up: str = "",
) -> Ticked:
    """Raises TickRefused for bad usage; starting a run raises what start_all raises (UsageError,
    CloudError). Anything else that stops the tick leaves the run to the next one. With `give_up` (why)
    the run is abandoned first (abandoning.py): the tick restores what it holds and starts nothing, and
    a run not started yet is not started."""
    span = config.time_budget + HOLD_MARGIN if config.time_budget is not None else HOLD_WITHOUT_BUDGET
    try:
        with store.hold(span, clock.now()):
            return _held(store, shards, config, clock, out_of_time, on_action, give_up)
    except Busy as error:
        return Ticked(None, True, f"{error}; this tick did nothing")
    except StoreError as error:
        raise TickRefused(f"--state: {error}") from None


def _held(store: RunStore, shards: Sequence[Shard], config: RunConfig, clock: Clock,
          out_of_time: Callable[[], bool] | None, on_action: Callable[[Action], None] | None,
          give_up: str) -> Ticked:  # fmt: skip
    given = tuple((shard.account, shard.region) for shard in shards)
    loaded = store.load()
    if loaded is None and give_up:
        return Ticked(None, False, f"no run state in {store.location}: the run holds nothing to restore")
    if loaded is None:
        run_id = new_run_id(clock.now())
        state = replace(new_state(start_all(shards, config, run_id, clock), config), shards=given)
        try:  # recorded before it acts
            version = store.save(encode(state), expected=None)
        except StoreConflict:
            return Ticked(state, True, f"another tick started a run in {store.location} first; this one did nothing")
    else:
        try:
            state, version = decode(loaded.document), loaded.version
        except RunStateError as error:
            raise TickRefused(f"--state {store.location}: {error}") from None
        if state.shards and not same_shards(state.shards, given):
            covers, asked = (", ".join(region for _, region in pairs) for pairs in (state.shards, given))
            raise TickRefused(f"--state {store.location}: run {state.run_id} covers {covers}, not {asked}: "
                              "give a tick the regions the run started with")  # fmt: skip
    if state.done:
        return Ticked(state, False)
    if give_up:
        state = abandon(state, clock.now(), give_up)
    try:
        ticked = tick_state(state, shards, clock, on_action=on_action, out_of_time=out_of_time)
    except CloudError as error:  # AWS unreadable for many ticks: nothing saved; the tags keep the truth
        return Ticked(state, True, f"{error}; the tick is dropped, the next one reads the groups again")
    except KeyboardInterrupt:
        return Ticked(state, True, "interrupted; the tick is dropped, the next one takes up from the groups' tags")
    try:
        store.save(encode(ticked), expected=version)
    except StoreConflict:
        return Ticked(ticked, True, f"another tick saved run {state.run_id} in {store.location} first; "
                      "this tick's result is dropped")  # fmt: skip
    except StoreError as error:
        return Ticked(ticked, True, f"{error}; the next tick takes up from the groups' tags")
    return Ticked(ticked, not ticked.done)


def same_shards(stored: Sequence[tuple[str, str]], given: Sequence[tuple[str, str]]) -> bool:
    """The regions a run started with, each in the same account (an account not recorded matches any)."""
    if sorted(region for _, region in stored) != sorted(region for _, region in given):
        return False
    accounts = {region: account for account, region in given}
    return all(not account or accounts.get(region) == account for account, region in stored)


def wait_seconds(state: RunState) -> float:
    """How long until the next tick: none once the run is over or when the budget left groups for it."""
    return 0.0 if state.done or state.not_reached else state.poll_seconds
