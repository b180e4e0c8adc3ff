"""The docs stay true: every code example of the README and of ``docs/`` is run, and what they name exists.

How each ```` ```python ```` block is run (the markers are in ``tests/support/docs.py``):

- every block compiles, and every name it takes from motia_django (``from motia_django... import x``,
  ``import motia_django...``, a dotted string such as ``"motia_django.metrics.urls"``) exists;
- a block that is not a fragment is executed, in a transactional test database of the example project (the test
  settings), in a namespace of its own; a block with a top-level ``await`` runs in an event loop, with
  ``context`` an ``AsyncFlowContext`` (as in an async handler);
- a block whose first line names a step or stream module (``# steps/chat/..._step.py``) is also built as the
  project would load it (``build_step`` / ``build_stream``), so a wrong key or type is a failure here;
- ``<!-- fragment: why -->`` blocks (and a project's ``settings.py``, ``urls.py`` and ``asgi.py``) are only
  compiled and checked for names: they are parts of a user's project, or need a running server;
- ``<!-- typed -->`` blocks pass ``mypy --strict`` (``tests/test_typed_api.py``);
- ``<!-- pytest -->`` blocks are test modules: pytest runs them against the example project.

Besides the code: every ``manage.py <command>`` (and ``manage.py streams <action>``) the pages name is a real
management command, every ``dev.py`` command is one of dev.py's, every ``MOTIA[...]`` setting is one of
motia_django's defaults, every ``motia_django.x.y`` reference and every repository file path resolves, the README's
relative links reach a file and heading, and the site builds with ``mkdocs build --strict`` (a broken link or
anchor fails; skipped without mkdocs, which the ``docs`` and ``test`` extras install, and failed then under
``MOTIA_REQUIRE_SERVICES=1``).
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import importlib
import importlib.util
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.core.management import get_commands, load_command_class

from motia_django.conf import DEFAULTS
from tests.support import services
from tests.support.docs import PAGES, ROOT, Block, all_blocks

PYTHON = all_blocks("python")
SHELL = all_blocks("sh", "bash", "console", "")
README = ROOT / "README.md"


def _ids(blocks: list[Block]) -> list[str]:
    return [block.where for block in blocks]


def _compile(block: Block) -> Any:
    return compile(block.code, block.where, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True)


# --- Python blocks ---------------------------------------------------------------------------------------------


def test_the_pages_have_examples_of_every_kind():
    assert len(PYTHON) >= 30
    kinds = {"fragment": [b for b in PYTHON if b.fragment], "run": [b for b in PYTHON if not b.fragment],
             "step": [b for b in PYTHON if b.module_kind == "step" and not b.fragment],
             "stream": [b for b in PYTHON if b.module_kind == "stream" and not b.fragment],
             "typed": [b for b in PYTHON if "typed" in b.markers],
             "pytest": [b for b in PYTHON if "pytest" in b.markers]}
    assert all(kinds.values()), {kind: len(found) for kind, found in kinds.items()}


@pytest.mark.parametrize("block", PYTHON, ids=_ids(PYTHON))
def test_every_python_block_compiles(block):
    _compile(block)


def _resolve(dotted: str) -> object:
    """The module or attribute ``dotted`` names (``motia_django.stream.retention.expire_items``)."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        module_name = ".".join(parts[:cut])
        try:
            found: object = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name is not None and not module_name.startswith(error.name):
                raise  # the module exists but imports something missing
            continue
        for attribute in parts[cut:]:
            found = getattr(found, attribute)  # AttributeError: the docs name what does not exist
        return found
    raise ModuleNotFoundError(dotted)


def _motia_names(block: Block) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(block.code)):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "motia_django":
            names += [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names += [alias.name for alias in node.names if alias.name.split(".")[0] == "motia_django"]
        elif (isinstance(node, ast.Constant) and isinstance(node.value, str)
              and re.fullmatch(r"motia_django(\.\w+)+", node.value)):
            names.append(node.value)
    return names


@pytest.mark.parametrize("block", PYTHON, ids=_ids(PYTHON))
def test_the_names_every_block_takes_from_motia_django_exist(block):
    for name in _motia_names(block):
        try:
            _resolve(name)
        except (ImportError, AttributeError) as error:
            pytest.fail(f"{block.where}: {name} does not exist ({error})")


RUN = [block for block in PYTHON if not block.fragment and "pytest" not in block.markers]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("block", RUN, ids=_ids(RUN))
def test_every_self_contained_block_runs(block):
    from motia_django.steps.config import build_step
    from motia_django.steps.context import AsyncFlowContext, FlowContext
    from motia_django.stream.config import build_stream

    code = _compile(block)
    namespace: dict[str, Any] = {"__name__": "docs_example"}
    if code.co_flags & inspect.CO_COROUTINE:
        namespace["context"] = AsyncFlowContext("docs-trace")

        async def run() -> None:
            await eval(code, namespace)

        asyncio.run(run())
    else:
        namespace["context"] = FlowContext("docs-trace")
        exec(code, namespace)
    if block.module_kind == "step":
        build_step(namespace["config"], namespace.get("handler"), block.where)
    elif block.module_kind == "stream":
        build_stream(namespace["config"], block.where)


def test_a_wrong_step_config_in_the_docs_would_fail():
    """What the step modules of the pages go through rejects a step that does not load."""
    from motia_django.exceptions import DefinitionError
    from motia_django.steps.config import build_step

    with pytest.raises(DefinitionError):
        build_step({"type": "api", "name": "X", "method": "POST", "path": "/x", "bodySchema": {...}},
                   lambda req, context: None, "docs")


PYTEST = [block for block in PYTHON if "pytest" in block.markers]


@pytest.mark.parametrize("block", PYTEST, ids=_ids(PYTEST))
def test_the_test_examples_pass(block, tmp_path):
    module = tmp_path / "test_docs_example.py"
    module.write_text(block.code)
    env = dict(os.environ)
    url = urlsplit(env.get("DATABASE_URL", ""))
    if url.scheme.startswith("postgres"):  # a test database of its own, beside this session's
        env["DATABASE_URL"] = urlunsplit(url._replace(path=(url.path or "/test") + "_docs_example"))
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-c", str(ROOT / "pyproject.toml"),
         "--rootdir", str(ROOT), str(module)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert re.search(r"\b\d+ passed\b", result.stdout) and " failed" not in result.stdout, result.stdout[-2000:]


def _project_blocks(page: Path) -> dict[str, str]:
    return {block.first_line: block.code for block in PYTHON if block.page == page
            and block.first_line in ("# settings.py", "# myproject/asgi.py", "# myproject/urls.py")}


def test_the_install_page_shows_the_readme_settings():
    """tests/test_packaging.py starts a project with the README's settings; docs/install.md shows the same."""
    readme = _project_blocks(README)
    assert set(readme) == {"# settings.py", "# myproject/asgi.py", "# myproject/urls.py"}
    assert _project_blocks(ROOT / "docs" / "install.md") == readme


# --- commands, settings and references in the prose and the shell blocks ---------------------------------------


def _texts() -> list[tuple[Path, str]]:
    return [(page, page.read_text()) for page in PAGES]


def _streams_actions() -> set[str]:
    command = load_command_class("motia_django", "streams")
    parser = command.create_parser("manage.py", "streams")
    [actions] = [action for action in parser._actions if isinstance(action, argparse._SubParsersAction)]
    return set(actions.choices)


def test_every_manage_py_command_named_exists():
    commands, actions = set(get_commands()), _streams_actions()
    seen, wrong = set(), []
    for page, text in _texts():
        for found in re.finditer(r"manage\.py (?P<command>[a-z][\w-]*)(?: (?P<action>[a-z]\w*))?", text):
            command, action = found["command"], found["action"]
            seen.add(command)
            if command not in commands:
                wrong.append(f"{page.name}: manage.py {command}")
            elif command == "streams" and action and action not in actions:
                wrong.append(f"{page.name}: manage.py streams {action}")
    assert wrong == []
    assert {"streams", "motia_worker", "migrate", "runserver", "check"} <= seen


def test_every_dev_py_command_named_exists():
    spec = importlib.util.spec_from_file_location("dev_script", ROOT / "dev.py")
    assert spec and spec.loader
    dev = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(dev)
    known = {"serve", "test"}
    assert {name for name in ("serve", "test") if callable(getattr(dev, name, None))} == known
    named = {found for _, text in _texts() for found in re.findall(r"dev\.py (\w+)", text)}
    assert named and named <= known, named - known


def test_every_shell_command_names_a_command_that_exists():
    """The programs the shell blocks run from the checkout's virtualenv are installed there."""
    missing = []
    for block in SHELL:
        for program in re.findall(r"(?:^|\s)\.venv/bin/([\w.-]+)", block.code, flags=re.M):
            if not (Path(sys.executable).parent / program).exists() and program not in ("granian", "py-spy"):
                missing.append(f"{block.where}: .venv/bin/{program}")
    assert missing == []


def _motia_settings_named() -> list[tuple[str, str]]:
    named = [(page.name, key) for page, text in _texts() for key in re.findall(r"MOTIA\[\"(\w+)\"\]", text)]
    for block in PYTHON:
        for node in ast.walk(ast.parse(block.code)):
            if (isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "MOTIA" for t in node.targets)
                    and isinstance(node.value, ast.Dict)):
                named += [(block.where, key.value) for key in node.value.keys
                          if isinstance(key, ast.Constant) and isinstance(key.value, str)]
    page = (ROOT / "docs" / "reference" / "settings.md").read_text()
    for table in re.findall(r"^\| `MOTIA\[\.\.\.\]` \|.*?(?=^\s*$)", page, flags=re.M | re.S):
        named += [("settings.md", key) for key in re.findall(r"^\| `(\w+)` \|", table, flags=re.M)]
    return named


def test_every_setting_named_is_one_of_motia_djangos():
    named = _motia_settings_named()
    assert len({key for _, key in named}) >= 20
    assert [(where, key) for where, key in named if key not in DEFAULTS] == []


LOGGERS = {name for path in (ROOT / "motia_django").rglob("*.py")
           for name in re.findall(r"getLogger\(\"([\w.]+)\"\)", path.read_text())}


def test_every_motia_django_reference_resolves():
    """``motia_django.worker.run_pending()`` in a page would fail here: the names in prose are real."""
    wrong = []
    for page, text in _texts():
        for found, logger in set(re.findall(r"(?<![\w/.-])(motia_django(?:\.[A-Za-z_]\w*)+)(?![\w/-])`?( logger)?",
                                            text)):
            if re.search(r"\.[EW]\d{3}$", found):
                continue  # a system check id (tests/test_checks.py)
            if logger:  # a logger's name: one the package logs on
                if found not in LOGGERS:
                    wrong.append(f"{page.name}: the {found} logger")
                continue
            try:
                _resolve(found)
            except (ImportError, AttributeError) as error:
                wrong.append(f"{page.name}: {found} ({error})")
        for module, names in re.findall(r"`from (motia_django[\w.]*) import ([\w, ]+)", text):  # imports in prose
            for name in filter(None, (n.strip() for n in names.split(","))):
                try:
                    _resolve(f"{module}.{name}")
                except (ImportError, AttributeError) as error:
                    wrong.append(f"{page.name}: from {module} import {name} ({error})")
    assert wrong == []


def test_every_repository_path_named_exists():
    """A file the pages name (``tests/scenarios/test_scaleout.py``, ``realtime/hub.py`` inside the package,
    ``tests/test_asgi.py::test_name``) is there, and so is the test it names."""
    wrong = []
    for page, text in _texts():
        pattern = r"`([\w-]+(?:/[\w.-]+)+\.(?:py|mjs|js|tsx|ts|json|html|css))(?:::(\w+))?`"
        for path, test in set(re.findall(pattern, text)):
            places = [ROOT / path, ROOT / "motia_django" / path, ROOT / "example_project" / path]
            target = next((place for place in places if place.exists()),
                          next(iter(sorted((ROOT / "motia_django").glob(f"**/{path}"))), None))
            if target is None:
                wrong.append(f"{page.name}: {path}")
            elif test and not re.search(rf"^(?:async )?def {test}\b", target.read_text(), flags=re.M):
                wrong.append(f"{page.name}: {path}::{test}")
    assert wrong == []


# --- the README as the front page, and the site ----------------------------------------------------------------


def _slug(heading: str) -> str:
    """A heading's anchor as GitHub and MkDocs both make it (lower case, no punctuation, spaces as hyphens)."""
    text = re.sub(r"[`*\[\]()]|<[^>]+>", "", heading.strip().lower())
    return re.sub(r"\s", "-", re.sub(r"[^\w\s-]", "", text))


def _anchors(page: Path) -> set[str]:
    text = re.sub(r"^```.*?^```", "", page.read_text(), flags=re.M | re.S)
    return {_slug(heading) for heading in re.findall(r"^#{1,6} (.+)$", text, flags=re.M)}


def test_the_readme_is_a_front_page():
    text = README.read_text()
    assert len(text.splitlines()) <= 300
    for command in ("python3 dev.py serve", "python3 dev.py test"):
        assert command in text
    linked = set(re.findall(r"\]\((docs/[\w/.-]+\.md)", text))
    pages = {str(page.relative_to(ROOT)) for page in (ROOT / "docs").rglob("*.md") if page.name != "index.md"}
    assert pages - linked == set(), "pages of the site the README does not link"


def test_the_readme_links_reach_a_file_and_its_heading():
    wrong = []
    for target in re.findall(r"\]\(([^)\s]+)\)", README.read_text()):
        if re.match(r"\w+:", target):
            continue
        path, _, anchor = target.partition("#")
        page = ROOT / path if path else README
        if not page.exists() or (anchor and anchor not in _anchors(page)):
            wrong.append(target)
    assert wrong == []


def test_the_site_builds_strict(tmp_path):
    if importlib.util.find_spec("mkdocs") is None or importlib.util.find_spec("material") is None:
        services.skip_or_fail('mkdocs or mkdocs-material not installed (pip install -e ".[docs]")')
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                            cwd=ROOT, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert result.returncode == 0, result.stderr[-4000:]
    assert (tmp_path / "site" / "streams" / "index.html").exists()
