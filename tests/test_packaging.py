"""The package as a user gets it: ``python -m build`` makes an sdist and a wheel that pass ``twine check``; the
wheel holds what a project needs and nothing of this repository's own; installed alone (no extra) into a fresh
virtualenv outside the checkout, it runs a new Django project set up with the README's settings.

Building needs the ``build`` and ``twine`` tools (the test extra) and PyPI for the build backend and the wheel's
dependencies; without them the test skips (fails under ``MOTIA_REQUIRE_SERVICES=1``).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path

import pytest

from tests.support import services

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def _run(*cmd: str | Path, cwd: Path, timeout: float = 300, env: dict[str, str] | None = None
         ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env=env)


@pytest.fixture(scope="session")
def dist(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One sdist and one wheel per test session."""
    missing = [tool for tool in ("build", "twine") if importlib.util.find_spec(tool) is None]
    if missing:
        services.skip_or_fail(f"{', '.join(missing)} not installed (the test extra)")
    out = tmp_path_factory.mktemp("dist")
    built = _run(sys.executable, "-m", "build", "--outdir", out, ROOT, cwd=ROOT)
    if built.returncode != 0:
        services.skip_or_fail(f"python -m build failed (no PyPI for the build backend?): {built.stderr[-1500:]}")
    found = {"sdist": next(out.glob("*.tar.gz")), "wheel": next(out.glob("*.whl"))}
    assert f"-{VERSION}" in found["wheel"].name and f"-{VERSION}." in found["sdist"].name
    return found


def test_twine_check_passes(dist):
    checked = _run(sys.executable, "-m", "twine", "check", "--strict", dist["sdist"], dist["wheel"], cwd=ROOT)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_sdist_has_the_license(dist):
    with tarfile.open(dist["sdist"]) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    assert {"LICENSE", "README.md", "pyproject.toml", "motia_django/py.typed"} <= names


def test_the_wheel_holds_the_package_and_nothing_of_the_repository(dist):
    with zipfile.ZipFile(dist["wheel"]) as wheel:
        names = wheel.namelist()
        metadata = wheel.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert "motia_django/py.typed" in names
    assert any(n.startswith("motia_django/templates/") and n.endswith(".html") for n in names)
    assert any(n.startswith("motia_django/static/") for n in names)
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert [n for n in names if n.startswith(("tests/", "example_project/", "bench/"))] == []
    assert "Requires-Dist: prometheus-client" in metadata and 'extra == "metrics"' in metadata
    assert "Classifier: Framework :: Django :: 6.0" in metadata


# --- a fresh project with the README's settings -----------------------------------------------------------------


def _block(title: str) -> str:
    """The README code block whose first line is ``# <title>``."""
    found = re.search(rf"```python\n# {re.escape(title)}\n(.*?)```", README, flags=re.S)
    assert found, f"the README has no block '# {title}'"
    return found.group(1)


def _readme_settings() -> str:
    block = _block("settings.py")
    apps = re.findall(r'^\s+"([\w.]+)",', block.split("INSTALLED_APPS", 1)[1].split("]", 1)[0], flags=re.M)
    assert {"daphne", "rest_framework", "channels", "motia_django"} <= set(apps)
    others = [line.replace("myproject", "mysite") for line in block.split("]\n", 1)[1].splitlines() if line.strip()]
    return "\n".join([
        f"INSTALLED_APPS = [{apps[0]!r}, *INSTALLED_APPS, "
        f"{', '.join(repr(a) for a in apps[1:] if a not in ('django.contrib.staticfiles',))}]",
        *others,
        'STREAMS = {"notes": {"schema": {"type": "object", "properties": {"text": {"type": "string"}},'
        ' "required": ["text"]}}}',
    ])


def _readme_urls() -> list[str]:
    return re.findall(r'^\s+(path\("", include\("[\w.]+"\)\)),', _block("myproject/urls.py"), flags=re.M)


def test_the_wheel_alone_runs_a_new_project_set_up_as_the_readme_says(dist, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "PYTHONPATH")}
    made = _run(sys.executable, "-m", "venv", "--without-pip", tmp_path / "venv", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    py = tmp_path / "venv" / "bin" / "python"
    installed = _run(sys.executable, "-m", "pip", "--python", py, "install", "-q", dist["wheel"], cwd=tmp_path,
                     env=env)
    if installed.returncode != 0:
        services.skip_or_fail(f"cannot install the wheel's dependencies (no PyPI?): {installed.stderr[-1500:]}")
    started = _run(tmp_path / "venv" / "bin" / "django-admin", "startproject", "mysite", cwd=tmp_path, env=env)
    assert started.returncode == 0, started.stderr
    project = tmp_path / "mysite"
    settings = project / "mysite" / "settings.py"
    settings.write_text(settings.read_text() + "\n# motia_django, as the README says\n" + _readme_settings() + "\n")
    (project / "mysite" / "asgi.py").write_text(_block("myproject/asgi.py").replace("myproject", "mysite"))
    urls = project / "mysite" / "urls.py"
    includes = _readme_urls()
    assert 'path("", include("motia_django.urls"))' in includes
    text = urls.read_text().replace("from django.urls import path", "from django.urls import include, path")
    urls.write_text(text.replace("    path('admin/', admin.site.urls),",
                                 "    path('admin/', admin.site.urls),\n" + "".join(f"    {i},\n" for i in includes)))

    def manage(*args: str) -> subprocess.CompletedProcess[str]:
        return _run(py, "manage.py", *args, cwd=project, env=env, timeout=120)

    checked = manage("check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    if 'include("motia_django.metrics.urls")' in includes:  # mounted, without the 'metrics' extra: said so
        assert "motia_django.W023" in checked.stderr and "'metrics' extra" in checked.stderr
    migrated = manage("migrate", "--noinput")
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    code = ("from motia_django import streams; import json; streams.notes.set('inbox', 'n1', {'text': 'hello'}); "
            "print(json.dumps(streams.notes.get('inbox', 'n1')))")
    shell = manage("shell", "-c", code)
    assert shell.returncode == 0, shell.stdout + shell.stderr
    assert json.loads(shell.stdout.strip().splitlines()[-1])["text"] == "hello"
    where = _run(py, "-c", "import motia_django; print(motia_django.__file__)", cwd=tmp_path, env=env)
    assert str(tmp_path / "venv") in where.stdout  # the installed copy, not the checkout
