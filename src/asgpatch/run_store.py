"""Where a run keeps what it knows between ticks, saved only if nobody saved since it was loaded.

A tick loads the run's document with a version, acts, and saves with that version as the condition. Of
two invocations that loaded the same version (a retried Lambda, two cron ticks that overlap) only one
save lands; the other gets StoreConflict and stops without acting further — what it did already was
idempotent by natural keys. The document is opaque bytes here: what a run state looks like is the
run state's business, not the store's.

Stores: in memory (a run in one process), a local file (a cron or CI schedule on one machine), and S3
(`s3://bucket/key`, aws/run_store.py: the deployed form), which uses S3's conditional PutObject.

A conditional save alone cannot stop two ticks that loaded the same version from both acting before one
of them loses the save (both would send the patch command). So a tick first holds the run (`hold`): one
tick at a time acts on a run, the other is told Busy before it has loaded anything, and a tick that dies
holding it gives it up — at once for a file (the kernel drops its lock), after its span for S3 (a
Lambda's span is its remaining time, so that is when it is dead).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


class StoreConflict(Exception):
    """Another invocation saved the run since this one loaded it: this one must not save or act further."""


class StoreError(Exception):
    """The store cannot be read or written at all (a path that is a directory, no permission, ...)."""


class Busy(Exception):
    """Another tick holds the run: this one must not act (it has loaded nothing yet)."""


@dataclass(frozen=True)
class Stored:
    document: bytes
    version: str  # opaque: an ETag, a digest, a counter


class RunStore(Protocol):
    @property
    def location(self) -> str:
        """Where the run lives, as a user names it (a path, s3://bucket/key, memory)."""
        ...

    def load(self) -> Stored | None:
        """The run's document and its version, or None when no run was saved here yet."""
        ...

    def save(self, document: bytes, expected: str | None) -> str:
        """Save if the stored version is still `expected` (None: nothing stored yet); the new version.
        Raises StoreConflict otherwise."""
        ...

    def hold(self, span: float, now: float) -> contextlib.AbstractContextManager[None]:
        """Hold the run for one tick (at most `span` seconds from `now`, for stores that cannot tell a
        dead holder); raises Busy when another tick holds it."""
        ...


def digest(document: bytes) -> str:
    return hashlib.sha256(document).hexdigest()


class MemoryStore:
    """A run in one process (`asgpatch run`): versions are a counter."""

    location = "memory"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holding = threading.Lock()
        self._stored: Stored | None = None
        self._count = 0

    def load(self) -> Stored | None:
        with self._lock:
            return self._stored

    @contextlib.contextmanager
    def hold(self, span: float, now: float) -> Iterator[None]:
        if not self._holding.acquire(blocking=False):
            raise Busy("another tick holds this run")
        try:
            yield
        finally:
            self._holding.release()

    def save(self, document: bytes, expected: str | None) -> str:
        with self._lock:
            current = self._stored.version if self._stored is not None else None
            if current != expected:
                raise StoreConflict(f"the run was saved by another invocation (version {current}, not {expected})")
            self._count += 1
            self._stored = Stored(document, str(self._count))
            return self._stored.version


class FileStore:
    """A run in a local file. The version is the document's SHA-256; a save holds an exclusive lock on
    `<file>.lock`, compares, writes a temporary file beside it and renames it over the old one, so a
    reader sees the old document or the new one, never half of one, and a crash leaves no torn file."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    @property
    def location(self) -> str:
        return str(self.path)

    def load(self) -> Stored | None:
        try:
            document = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as error:
            raise StoreError(f"cannot read the run state {self.path}: {error.strerror or error}") from None
        return Stored(document, digest(document))

    def save(self, document: bytes, expected: str | None) -> str:
        with self._locked():
            stored = self.load()
            current = stored.version if stored is not None else None
            if current != expected:
                raise StoreConflict(f"the run state {self.path} was saved by another invocation since it was loaded")
            self._replace(document)
        return digest(document)

    def hold(self, span: float, now: float) -> contextlib.AbstractContextManager[None]:
        """An exclusive lock on `<file>.tick` for the whole tick, not waited for: a second tick is Busy at
        once, and a tick that dies releases it with its process."""
        return self._locked(".tick", wait=False)

    @contextlib.contextmanager
    def _locked(self, suffix: str = ".lock", wait: bool = True) -> Iterator[None]:
        lock_path = self.path.with_name(self.path.name + suffix)
        try:
            handle = open(lock_path, "a")  # noqa: SIM115 - held open for the lock's lifetime
        except OSError as error:
            raise StoreError(f"cannot lock the run state {self.path}: {error.strerror or error}") from None
        with handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                raise Busy(f"another tick holds the run in {self.path} ({lock_path.name} is locked)") from None
            except OSError as error:  # a file system without locks (some NFS mounts): no safe save
                raise StoreError(f"cannot lock the run state {self.path}: {error.strerror or error}") from None
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def _replace(self, document: bytes) -> None:
        try:
            descriptor, temporary = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
            try:
                with os.fdopen(descriptor, "wb") as handle:
                    handle.write(document)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(temporary, self.path)
                _sync_directory(self.path.parent)  # the rename itself survives a power cut
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(temporary)
                raise
        except OSError as error:
            raise StoreError(f"cannot write the run state {self.path}: {error.strerror or error}") from None


def _sync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
