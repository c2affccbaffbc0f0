"""The run stores' one promise: of two invocations that loaded the same version, only one save lands."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asgpatch.run_store import Busy, FileStore, MemoryStore, RunStore, StoreConflict, StoreError


@pytest.fixture(params=["memory", "file"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> RunStore:
    return MemoryStore() if request.param == "memory" else FileStore(tmp_path / "run.json")


def test_a_new_run_is_saved_once_and_loaded_back(store: RunStore) -> None:
    assert store.load() is None
    version = store.save(b'{"run_id": "r1"}', expected=None)
    loaded = store.load()
    assert loaded is not None and loaded.document == b'{"run_id": "r1"}' and loaded.version == version
    with pytest.raises(StoreConflict):
        store.save(b'{"run_id": "r2"}', expected=None)  # a second "new run" on the same state loses


def test_of_two_invocations_that_loaded_the_same_version_only_one_saves(store: RunStore) -> None:
    store.save(b"tick 0", expected=None)
    first, second = store.load(), store.load()
    assert first is not None and second is not None and first.version == second.version
    store.save(b"tick 1 by the first", expected=first.version)
    with pytest.raises(StoreConflict):
        store.save(b"tick 1 by the second", expected=second.version)
    loaded = store.load()
    assert loaded is not None and loaded.document == b"tick 1 by the first"


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), st.booleans()), min_size=1, max_size=30))
def test_no_save_is_ever_lost_whatever_the_interleaving(steps: list[tuple[int, bool]]) -> None:
    """Three invocations load and save in any order: every save that lands was based on the newest
    version, so the stored history is exactly the successful saves, in order."""
    store = MemoryStore()
    store.save(b"0", expected=None)
    seen: dict[int, tuple[bytes, str]] = {}
    landed = [b"0"]
    for who, loads in steps:
        if loads or who not in seen:
            current = store.load()
            assert current is not None
            seen[who] = (current.document, current.version)
            continue
        base, version = seen.pop(who)
        newest = store.load()
        assert newest is not None
        document = base + b"," + str(len(landed)).encode()
        if version == newest.version:
            store.save(document, expected=version)
            landed.append(document)
        else:
            with pytest.raises(StoreConflict):
                store.save(document, expected=version)
    final = store.load()
    assert final is not None and final.document == landed[-1]


def test_a_file_store_loses_no_update_under_concurrent_writers(tmp_path: Path) -> None:
    """Eight threads load, add one and save, retrying on conflict: the count is exactly the saves made."""
    store = FileStore(tmp_path / "count.json")
    store.save(b"0", expected=None)
    per_thread = 25

    def worker() -> None:
        done = 0
        while done < per_thread:
            loaded = store.load()
            assert loaded is not None
            try:
                store.save(str(int(loaded.document) + 1).encode(), expected=loaded.version)
            except StoreConflict:
                continue
            done += 1

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    final = store.load()
    assert final is not None and int(final.document) == 8 * per_thread
    leftovers = sorted(p.name for p in tmp_path.iterdir())
    assert leftovers == ["count.json", "count.json.lock"], "no temporary file is left behind"


def test_a_file_store_that_cannot_be_written_says_so(tmp_path: Path) -> None:
    directory = tmp_path / "a-directory"
    directory.mkdir()
    with pytest.raises(StoreError, match="cannot read the run state"):
        FileStore(directory).load()
    with pytest.raises(StoreError, match="cannot lock the run state"):
        FileStore(tmp_path / "missing" / "run.json").save(b"x", expected=None)


def test_one_tick_at_a_time_holds_a_file_run_and_a_dead_holder_gives_it_up(tmp_path: Path) -> None:
    import subprocess
    import sys

    store = FileStore(tmp_path / "run.json")
    twin = FileStore(tmp_path / "run.json")
    with store.hold(60, 0.0), pytest.raises(Busy, match="another tick holds"), twin.hold(60, 0.0):
        pass
    with store.hold(60, 0.0):
        pass  # released when the tick ends
    # a tick killed while holding it: the kernel drops its lock with the process, no waiting for a span
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from asgpatch.run_store import FileStore\n"
        f"with FileStore({str(tmp_path / 'run.json')!r}).hold(3600, 0.0):\n"
        "    print('held', flush=True); time.sleep(60)")], stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    with pytest.raises(Busy), store.hold(60, 0.0):
        pass
    holder.kill()
    holder.wait(timeout=10)
    with store.hold(60, 0.0):
        pass


def test_a_memory_run_is_held_by_one_tick_at_a_time() -> None:
    store = MemoryStore()
    with store.hold(60, 0.0), pytest.raises(Busy), store.hold(60, 0.0):
        pass
    with store.hold(60, 0.0):
        pass
