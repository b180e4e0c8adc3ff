"""Loading user definitions: finding and importing ``*_stream.py`` and ``*_step.py`` modules under the steps
folders, and the registry pattern both the stream and the step registries share.

Modules: a file inside a package importable from ``sys.path`` is imported under its dotted name, so relative
imports between steps work; any other file is loaded under a synthetic ``motia_steps.*`` name. Import errors are
returned, not raised: the caller reports them as system check errors naming the file.

Registries: ``load()`` builds every definition from scratch, keeps each problem as a system check message naming
the file or setting (a broken definition is left out whole; the others still work), and swaps the result in
under a lock, so a reload (``override_settings`` in tests) never shows a half-built registry. Reading loads on
first use.
"""

from __future__ import annotations

import abc
import importlib
import importlib.util
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Generic, Protocol, TypeVar

from django.core import checks

from motia_django.conf import motia_settings
from motia_django.exceptions import DefinitionError

__all__ = ["LoadedModule", "Registry", "iter_configs", "iter_modules", "load_module"]


@dataclass(frozen=True)
class LoadedModule:
    path: Path
    module: ModuleType | None
    error: BaseException | None = None


def _dotted_name(path: Path) -> str | None:
    """The importable dotted name of ``path`` if it sits in a package chain reachable from sys.path."""
    parts = [path.stem]
    folder = path.parent
    while (folder / "__init__.py").exists():
        parts.insert(0, folder.name)
        folder = folder.parent
    roots = {Path(p or ".").resolve() for p in sys.path}
    return ".".join(parts) if folder.resolve() in roots and len(parts) > 1 else None


def load_module(path: Path) -> ModuleType:
    name = _dotted_name(path)
    if name is not None:
        return importlib.import_module(name)
    rel = "_".join(path.with_suffix("").parts[-3:]).replace("-", "_").replace(".", "_")
    name = f"motia_steps.{rel}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:  # pragma: no cover - only for non-.py files
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def iter_modules(suffix: str) -> Iterator[LoadedModule]:
    """Import every ``*{suffix}.py`` file under the steps folders, in a stable order."""
    for folder in motia_settings.STEPS_DIRS:
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob(f"*{suffix}.py")):
            if any(part.startswith(".") or part == "__pycache__" for part in path.parts):
                continue
            try:
                yield LoadedModule(path, load_module(path))
            except Exception as exc:  # reported as a system check error naming the file
                yield LoadedModule(path, None, exc)


def iter_configs(
    suffix: str, kind: str, errors: list[checks.CheckMessage], *, import_error: tuple[str, str],
    no_config: tuple[str, str],
) -> Iterator[tuple[str, ModuleType]]:
    """``(origin, module)`` of each ``*{suffix}.py`` module that imported and has a ``config``; the others are
    reported in ``errors`` (``import_error`` and ``no_config`` are each a check id and its hint)."""
    for loaded in iter_modules(suffix):
        origin = str(loaded.path)
        if loaded.error is not None:
            id, hint = import_error
            errors.append(checks.Error(f"{origin}: {kind} module failed to import: {loaded.error!r}", hint=hint,
                                       id=id))
        elif loaded.module is None or not hasattr(loaded.module, "config"):
            id, hint = no_config
            errors.append(checks.Error(f"{origin}: {kind} module has no module-level config", hint=hint, id=id))
        else:
            yield origin, loaded.module


# --- registries ----------------------------------------------------------------------------------------

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

    def find(self, name: str) -> T | None:
        """The definition named ``name``, or None."""
        return self._ensure().get(name)

    def names(self) -> list[str]:
        return sorted(self._ensure())

    def __iter__(self) -> Iterator[T]:
        return iter(list(self._ensure().values()))

    def __contains__(self, name: object) -> bool:
        return name in self._ensure()

    def __len__(self) -> int:
        return len(self._ensure())
