#!/usr/bin/env python3
"""The two set-up commands, for a fresh machine with only Python 3.11:

    python3 dev.py serve   # virtualenv, install (the example's extras), migrate, serve the example on :3000
    python3 dev.py test    # virtualenv, install (test extras), lint, type-check, docs, tests on SQLite then PostgreSQL

Extra arguments after ``test`` go to pytest (``python3 dev.py test -k consumer``). ``test --django X`` (``5.2``,
``6.0``) runs the same under that Django release, in a virtualenv of its own (``.venv-djangoX``), made with
the first Python that release supports (Django 6.0 needs 3.12): this one, else ``python3.14`` ... ``python3.12``
on ``PATH`` or in pyenv's versions, else ``--python PATH`` (``python3 dev.py test --django 6.0 tests/stream``).
Environment:
``MOTIA_TEST_POSTGRES_URL`` (default ``postgres://127.0.0.1:5432/test``) for the PostgreSQL run,
``MOTIA_REQUIRE_SERVICES=1`` to fail instead of skip when PostgreSQL/Redis/Node/Chromium are missing,
``MOTIA_SKIP_LINT=1`` to skip ruff, mypy and ``mkdocs build --strict`` (the docs site, built into ``site/``).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / "python"


def run(*cmd: str | Path, env: dict[str, str] | None = None, check: bool = True, cwd: Path = ROOT) -> int:
    print("+", " ".join(map(str, cmd)), flush=True)
    return subprocess.run([str(c) for c in cmd], env=env, cwd=cwd, check=check).returncode


def ensure_venv(extras: str, env_dir: Path = VENV, python: str | None = None, django: str | None = None) -> Path:
    """Create the virtualenv (``.venv``; with ``python``, made by that interpreter) and install the project, then
    ``django`` (a release such as ``6.0``) if given; reinstall only when pyproject.toml or these change. Returns
    the virtualenv's python."""
    py = env_dir / ("Scripts" if os.name == "nt" else "bin") / "python"
    if not py.exists():
        if python is None:
            venv.EnvBuilder(with_pip=True).create(env_dir)
        else:
            run(python, "-m", "venv", env_dir)
        run(py, "-m", "pip", "install", "-q", "--upgrade", "pip")
    stamp = env_dir / f".motia-install-{extras or 'base'}"
    want = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + (django or "").encode()).hexdigest()
    if not stamp.exists() or stamp.read_text() != want:
        run(py, "-m", "pip", "install", "-q", "-e", f".[{extras}]" if extras else ".")
        if django:
            run(py, "-m", "pip", "install", "-q", f"django~={django}.0")
        stamp.write_text(want)
    return py


#: The oldest Python each Django release supports (its release notes).
DJANGO_PYTHON = {"5.2": (3, 10), "6.0": (3, 12), "6.1": (3, 12)}


def python_for(django: str, chosen: str | None) -> str | None:
    """An interpreter for ``django``: ``chosen``, else this one if it is recent enough (None), else the newest
    ``python3.N`` found on PATH or in pyenv's versions."""
    if chosen:
        return chosen
    oldest = DJANGO_PYTHON.get(django, (3, 11))
    if sys.version_info[:2] >= oldest:
        return None
    versions = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"), "versions")
    for minor in range(14, oldest[1] - 1, -1):
        candidates = [shutil.which(f"python3.{minor}"), *(str(v / "bin" / "python3")
                                                          for v in sorted(versions.glob(f"3.{minor}.*"), reverse=True))]
        for found in filter(None, candidates):  # a pyenv shim on PATH may name a version that is not active
            if subprocess.run([found, "-c", ""], capture_output=True).returncode == 0:
                return found
    raise SystemExit(f"Django {django} needs Python {'.'.join(map(str, oldest))} or newer, and none was found: "
                     "give one with --python PATH")


def take_option(args: list[str], name: str) -> str | None:
    """Remove ``name VALUE`` (or ``name=VALUE``) from ``args`` and return VALUE."""
    for i, arg in enumerate(args):
        if arg == name and i + 1 < len(args):
            value = args[i + 1]
            del args[i:i + 2]
            return value
        if arg.startswith(name + "="):
            del args[i]
            return arg.split("=", 1)[1]
    return None


def ensure_node_packages() -> None:
    """Install the real Motia npm clients the end-to-end tests drive (tests/js)."""
    js = ROOT / "tests" / "js"
    if not (js / "package.json").exists():
        return
    npm = shutil.which("npm")
    if npm is None:
        print("! npm not found: tests that use the Motia npm client will skip (or fail under "
              "MOTIA_REQUIRE_SERVICES=1)", flush=True)
        return
    lock = js / "package-lock.json"
    stamp = js / "node_modules" / ".motia-install"
    manifest = (js / "package.json").read_bytes() + (lock.read_bytes() if lock.exists() else b"")
    want = hashlib.sha256(manifest).hexdigest()
    if not stamp.exists() or stamp.read_text() != want:
        run(npm, "ci" if lock.exists() else "install", "--no-audit", "--no-fund", "--loglevel=error", cwd=js)
        stamp.write_text(want)


def ensure_chromium() -> None:
    """Debian's chromium for the browser tests (a test tool's own browser download does not work here)."""
    if shutil.which("chromium") or not (ROOT / "tests" / "scenarios" / "browser").exists():
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        run("apt-get", "update", "-qq", check=False)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        run("apt-get", "install", "-y", "-qq", "chromium", env=env, check=False)
    if not shutil.which("chromium"):
        print("! chromium not found: browser tests will skip (or fail under MOTIA_REQUIRE_SERVICES=1)", flush=True)


def serve(args: list[str]) -> int:
    ensure_venv("example")  # the example uses every extra (metrics, OpenAPI, PostgreSQL, ...) and dj-database-url
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "example_project.settings"}
    run(PY, "manage.py", "migrate", "--noinput", env=env)
    addr = args[0] if args else "127.0.0.1:3000"
    print(f"\nmotia_django example: http://{addr}/endpoints  (admin: http://{addr}/admin/)\n", flush=True)
    return run(PY, "manage.py", "runserver", addr, env=env, check=False)


def test(args: list[str]) -> int:
    args = list(args)
    django, python = take_option(args, "--django"), take_option(args, "--python")
    if django:
        py = ensure_venv("test", ROOT / f".venv-django{django}", python_for(django, python), django)
    else:
        py = ensure_venv("test")
    bin_dir = py.parent
    ensure_node_packages()
    ensure_chromium()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    if os.environ.get("MOTIA_SKIP_LINT") != "1":
        run(bin_dir / "ruff", "check", ".")
        run(bin_dir / "mypy", "motia_django")
        # The docs site: a broken link or anchor, or a page left out of the nav, fails (mkdocs.yml).
        run(bin_dir / "mkdocs", "build", "--strict", "--site-dir", ROOT / "site",  # not --quiet: it hides the warnings
            env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    pytest = [str(py), "-m", "pytest", *args]
    status = run(*pytest, env=env, check=False)
    pg_url = os.environ.get("MOTIA_TEST_POSTGRES_URL", "postgres://127.0.0.1:5432/test")
    print(f"\n=== the same suite on PostgreSQL ({pg_url}) ===", flush=True)
    pg_status = run(*pytest, env={**env, "DATABASE_URL": pg_url}, check=False)
    return status or pg_status


def main() -> int:
    commands = {"serve": serve, "test": test}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        print(__doc__)
        return 2
    return commands[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
