"""``runserver`` restarts when a stream or step module is added to a steps folder (Django's StatReloader ignores
files it has not seen before): a real ``manage.py runserver`` with the autoreloader, and the folder receiver."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.test import override_settings

from motia_django import autoreload as reloading
from tests.support.server import ROOT, base_env, free_port, wait_for_port

STREAM = 'config = {"name": "notes", "schema": {"type": "object"}}\n'


class Reloader:
    def __init__(self) -> None:
        self.watched: list[tuple[Path, str]] = []

    def watch_dir(self, path: Path, glob: str) -> None:
        self.watched.append((path, glob))


def test_the_modules_and_the_folders_are_watched(tmp_path: Path) -> None:
    (tmp_path / "chat" / "__pycache__").mkdir(parents=True)
    reloader = Reloader()
    with override_settings(MOTIA={"STEPS_DIRS": [tmp_path, tmp_path / "missing"]}):
        reloading.watch_steps(reloader)
    assert reloader.watched == [(tmp_path, "**/*_stream.py"), (tmp_path, "**/*_step.py"),
                                (tmp_path.parent, tmp_path.name), (tmp_path, "chat")]


def test_a_folder_change_restarts_only_for_a_new_module_or_folder(tmp_path: Path) -> None:
    (tmp_path / "old_step.py").write_text("")
    with override_settings(MOTIA={"STEPS_DIRS": [tmp_path]}):
        reloading.watch_steps(Reloader())
    (tmp_path / ".old_step.py.swp").write_text("")  # an editor opened a file
    (tmp_path / "helpers.py").write_text("")  # not a stream or step module
    assert reloading.on_file_changed(None, tmp_path) is True  # no restart
    (tmp_path / "notes_stream.py").write_text(STREAM)
    assert reloading.on_file_changed(None, tmp_path) is None  # Django restarts
    (tmp_path / "todo").mkdir()
    assert reloading.on_file_changed(None, tmp_path) is None
    assert reloading.on_file_changed(None, tmp_path / "elsewhere.py") is None  # not a folder of ours


def test_runserver_restarts_when_a_stream_module_is_added(tmp_path: Path) -> None:
    steps = tmp_path / "steps"
    steps.mkdir()
    (tmp_path / "reload_settings.py").write_text(
        "from tests.support.live_settings import *  # noqa\n"
        "DEBUG = True  # runserver says 'changed, reloading' only in DEBUG\n"
        f"MOTIA = {{**MOTIA, 'STEPS_DIRS': [{str(steps)!r}], 'EVENTS_IN_PROCESS': False}}\n")
    env = base_env(f"sqlite:///{tmp_path / 'db.sqlite3'}", DJANGO_SETTINGS_MODULE="reload_settings")
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), env["PYTHONPATH"]])
    port = free_port()
    log = tmp_path / "runserver.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}"], cwd=ROOT, env=env,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for_port(port, proc=proc)
        time.sleep(2.5)  # the reloader has looked at every file once (it ticks every second)
        (steps / "notes_stream.py").write_text(STREAM)
        deadline = time.monotonic() + 15
        while b"changed, reloading" not in log.read_bytes() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert b"changed, reloading" in log.read_bytes(), log.read_text(errors="replace")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture(autouse=True)
def _forget_folders() -> None:
    reloading._known.clear()
