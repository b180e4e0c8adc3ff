"""motia_django.client (the package): a script outside any Django project can import it, as its docstring says."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_the_client_needs_no_django_project():
    """A script outside any Django project can use the client: it imports nothing of Django."""
    code = ("import sys; from motia_django.client import StreamClient; StreamClient('ws://h'); "
            "assert not any(m == 'django' or m.startswith('django.') for m in sys.modules), 'django imported'; "
            "print('ok')")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                            env={"PATH": os.environ.get("PATH", "")}, cwd=Path(__file__).resolve().parents[2])
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
