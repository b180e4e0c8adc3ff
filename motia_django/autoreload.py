"""``runserver`` restarts when a stream or step module is added to a steps folder, not only when one changes.

Django's ``StatReloader`` (the default without Watchman) ignores a file it has not seen before, so a new
``*_stream.py`` would wait for the next restart. A folder's modification time changes when an entry is added or
removed, so the folders are watched too; a folder change whose stream and step modules (and subfolders) are the
same as before (an editor's swap file, say) is answered through ``file_changed`` without a restart.
"""

from __future__ import annotations

import glob
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["on_file_changed", "watch_steps"]

MODULES = ("*_stream.py", "*_step.py")

#: Watched folder -> its stream and step modules and subfolders, as this process loaded them.
_known: dict[Path, frozenset[str]] = {}


def _entries(folder: Path) -> frozenset[str]:
    try:
        return frozenset(p.name for p in folder.iterdir()
                         if (p.is_dir() and p.name != "__pycache__") or any(p.match(m) for m in MODULES))
    except OSError:
        return frozenset()


def _folders(root: Path) -> Iterator[Path]:
    yield root
    for path in root.rglob("*"):
        if path.is_dir() and "__pycache__" not in path.parts:
            yield path


def watch_steps(sender: Any, **kwargs: Any) -> None:
    """``autoreload_started`` receiver: watch the steps folders' modules, and the folders themselves."""
    from motia_django.conf import motia_settings

    for root in motia_settings.STEPS_DIRS:
        if not root.is_dir():
            continue
        for pattern in MODULES:
            sender.watch_dir(root, f"**/{pattern}")
        for folder in _folders(root.absolute()):
            _known[folder] = _entries(folder)
            sender.watch_dir(folder.parent, glob.escape(folder.name))


def on_file_changed(sender: Any, file_path: Path, **kwargs: Any) -> bool | None:
    """``file_changed`` receiver: True (no restart) for a watched folder whose modules and subfolders did not
    change; None otherwise (Django restarts)."""
    path = Path(file_path)
    if path not in _known:
        return None
    entries = _entries(path)
    if entries == _known[path]:
        return True
    _known[path] = entries
    return None
