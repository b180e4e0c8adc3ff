"""The app's wiring: runserver's autoreloader also watches the steps folders for new stream and step modules."""

from __future__ import annotations

from pathlib import Path

from django.test import override_settings

from motia_django.apps import _watch_steps


def test_runserver_reloads_when_a_stream_or_step_module_is_added(tmp_path: Path) -> None:
    watched: list[tuple[Path, str]] = []

    class Reloader:
        def watch_dir(self, path: Path, glob: str) -> None:
            watched.append((path, glob))

    with override_settings(MOTIA={"STEPS_DIRS": [tmp_path, tmp_path / "missing"]}):
        _watch_steps(Reloader())
    assert watched == [(tmp_path, "**/*_stream.py"), (tmp_path, "**/*_step.py")]
