#!/usr/bin/env python3
"""The two set-up commands, for a fresh machine with only Python 3.11:

    python3 dev.py serve   # virtualenv, install, migrate, serve the example on http://127.0.0.1:3000
    python3 dev.py test    # virtualenv, install (with test extras), lint, type-check, tests on SQLite then PostgreSQL

Extra arguments after ``test`` go to pytest (``python3 dev.py test -k consumer``). Environment:
``MOTIA_TEST_POSTGRES_URL`` (default ``postgres://127.0.0.1:5432/test``) for the PostgreSQL run,
``MOTIA_REQUIRE_SERVICES=1`` to fail instead of skip when PostgreSQL/Redis/Node/Chromium are missing,
``MOTIA_SKIP_LINT=1`` to skip ruff and mypy.
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


def ensure_venv(extras: str) -> None:
    """Create .venv and install the project; reinstall only when pyproject.toml or the extras change."""
    if not PY.exists():
        venv.EnvBuilder(with_pip=True).create(VENV)
        run(PY, "-m", "pip", "install", "-q", "--upgrade", "pip")
    stamp = VENV / f".motia-install-{extras or 'base'}"
    want = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if not stamp.exists() or stamp.read_text() != want:
        run(PY, "-m", "pip", "install", "-q", "-e", f".[{extras}]" if extras else ".")
        stamp.write_text(want)


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
    ensure_venv("")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "example_project.settings"}
    run(PY, "manage.py", "migrate", "--noinput", env=env)
    addr = args[0] if args else "127.0.0.1:3000"
    print(f"\nmotia_django example: http://{addr}/endpoints  (admin: http://{addr}/admin/)\n", flush=True)
    return run(PY, "manage.py", "runserver", addr, env=env, check=False)


def test(args: list[str]) -> int:
    ensure_venv("test")
    ensure_node_packages()
    ensure_chromium()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    if os.environ.get("MOTIA_SKIP_LINT") != "1":
        run(BIN / "ruff", "check", ".")
        run(BIN / "mypy", "motia_django")
    pytest = [str(PY), "-m", "pytest", *args]
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
