"""The example project's settings in a process of their own: with ``DJANGO_DEBUG=0`` and no ``DJANGO_SECRET_KEY`` it
refuses to start (a key everyone can read signs everyone's sessions); with a key, or in DEBUG, it starts."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.support.server import ROOT

START = "import django; django.setup(); from django.conf import settings; print(len(settings.SECRET_KEY))"


def start(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("DJANGO_DEBUG", "DJANGO_SECRET_KEY")}
    clean.update(DJANGO_SETTINGS_MODULE="example_project.settings", PYTHONPATH=str(ROOT), **env)
    return subprocess.run([sys.executable, "-c", START], env=clean, cwd=ROOT, capture_output=True, text=True,
                          timeout=60)


def test_debug_off_without_a_secret_key_refuses_to_start():
    started = start(DJANGO_DEBUG="0")
    assert started.returncode != 0
    assert "ImproperlyConfigured" in started.stderr and "DJANGO_SECRET_KEY must be set" in started.stderr


@pytest.mark.parametrize("env", [{"DJANGO_DEBUG": "0", "DJANGO_SECRET_KEY": "k" * 50}, {"DJANGO_DEBUG": "1"}])
def test_a_secret_key_or_debug_starts(env):
    started = start(**env)
    assert started.returncode == 0, started.stderr
    assert int(started.stdout) > 0
