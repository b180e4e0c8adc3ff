"""Finding and importing user modules (``*_stream.py``, ``*_step.py``) under the steps folders.

A file inside a package importable from ``sys.path`` is imported under its dotted name, so relative imports
between steps work; any other file is loaded under a synthetic ``motia_steps.*`` name. Import errors are
returned, not raised: the caller reports them as system check errors naming the file.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from django.core import checks

from motia_django.conf import motia_settings

__all__ = ["LoadedModule", "iter_configs", "iter_modules"]


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
