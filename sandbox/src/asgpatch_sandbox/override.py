"""How the sandbox changes moto: one `Change` per class attribute, applied once per process.

The changes themselves are listed in moto_changes.py, so that one file shows everything the sandbox
alters in moto. Here is only the mechanism: apply the list, remember what moto had, and let a
replacement call moto's own version (`original`) when it adds to moto's behaviour rather than
replacing it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

_MISSING = object()
# (class, attribute) -> what moto had there before the sandbox changed it (_MISSING: nothing).
_pristine: dict[tuple[type, str], Any] = {}


@dataclass(frozen=True)
class Change:
    """`target.name = new`, and why: what AWS does there that moto does not."""

    target: type
    name: str
    new: Any
    why: str
    adds: bool = False  # moto has no such attribute: the sandbox answers an operation moto lacks

    @property
    def where(self) -> str:
        return f"{self.target.__module__}.{self.target.__qualname__}.{self.name}"


def apply(changes: Iterable[Change]) -> None:
    """Make every change; repeatable (a second sandbox in the same process changes nothing more)."""
    for change in changes:
        key = (change.target, change.name)
        if key not in _pristine:
            _pristine[key] = change.target.__dict__.get(change.name, getattr(change.target, change.name, _MISSING))
        setattr(change.target, change.name, change.new)


def original(target: type, name: str) -> Any:
    """moto's own `target.name`, as it was before the sandbox changed it."""
    value = _pristine.get((target, name), _MISSING)
    if value is _MISSING:
        value = target.__dict__.get(name, getattr(target, name, _MISSING))
    if value is _MISSING:
        raise AttributeError(f"moto has no {target.__qualname__}.{name}")
    return value


def moto_has(target: type, name: str) -> bool:
    """Whether moto itself (not the sandbox) defines `target.name`."""
    key = (target, name)
    if key in _pristine:
        return _pristine[key] is not _MISSING
    return hasattr(target, name)
