"""The pattern both registries share (streams in ``registry.py``, steps in ``steps.py``).

``load()`` builds every definition from scratch, keeps each problem as a system check message naming the file
or setting (a broken definition is left out whole; the others still work), and swaps the result in under a
lock, so a reload (``override_settings`` in tests) never shows a half-built registry. Reading loads on first
use.
"""

from __future__ import annotations

import abc
import threading
from collections.abc import Callable, Iterator
from typing import Generic, Protocol, TypeVar

from django.core import checks

from motia_django.exceptions import DefinitionError

__all__ = ["Registry"]


class Definition(Protocol):
    name: str
    origin: str


T = TypeVar("T", bound=Definition)


class Registry(abc.ABC, Generic[T]):
    """Named definitions (each with ``name`` and ``origin``) plus the problems found building them."""

    def __init__(self) -> None:
        self._items: dict[str, T] = {}
        self.errors: list[checks.CheckMessage] = []
        self.loaded = False
        self._lock = threading.Lock()

    @abc.abstractmethod
    def collect(self, found: dict[str, T], errors: list[checks.CheckMessage]) -> None:
        """Build every definition into ``found`` (``add`` does the usual); report problems in ``errors``."""

    @abc.abstractmethod
    def duplicate(self, item: T, other: T) -> checks.CheckMessage:
        """The check message for ``item``, whose name ``other`` already has."""

    def finish(self, found: dict[str, T], errors: list[checks.CheckMessage]) -> None:
        """Derive indexes from the complete set (called under the lock, just before the swap)."""

    @staticmethod
    def build(make: Callable[[], T], origin: str, errors: list[checks.CheckMessage]) -> T | None:
        """``make()``, or None with its ``DefinitionError`` kept as a check error naming ``origin``."""
        try:
            return make()
        except DefinitionError as exc:
            errors.append(checks.Error(f"{origin}: {exc.msg}", hint=exc.hint, id=exc.id))
            return None

    def unique(self, found: dict[str, T], item: T, errors: list[checks.CheckMessage]) -> bool:
        if item.name in found:
            errors.append(self.duplicate(item, found[item.name]))
            return False
        return True

    def add(self, found: dict[str, T], make: Callable[[], T], origin: str, errors: list[checks.CheckMessage]) -> None:
        item = self.build(make, origin, errors)
        if item is not None and self.unique(found, item, errors):
            found[item.name] = item

    def load(self) -> None:
        """(Re)build everything; replaces the previous contents in one step."""
        found: dict[str, T] = {}
        errors: list[checks.CheckMessage] = []
        self.collect(found, errors)
        with self._lock:
            self.finish(found, errors)
            self._items, self.errors, self.loaded = found, errors, True

    def _ensure(self) -> dict[str, T]:
        if not self.loaded:
            self.load()
        return self._items

    def not_found(self, name: str) -> Exception:
        return KeyError(name)

    def get(self, name: str) -> T:
        items = self._ensure()
        try:
            return items[name]
        except KeyError:
            raise self.not_found(name) from None

    def names(self) -> list[str]:
        return sorted(self._ensure())

    def __iter__(self) -> Iterator[T]:
        return iter(list(self._ensure().values()))

    def __contains__(self, name: object) -> bool:
        return name in self._ensure()

    def __len__(self) -> int:
        return len(self._ensure())
