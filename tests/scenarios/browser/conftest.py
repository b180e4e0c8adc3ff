"""Browser tests: Debian's Chromium driven by Playwright against a live Daphne serving the example project.

Chromium is ``/usr/bin/chromium`` (``dev.py test`` installs it with apt when missing); Playwright's own browser
download is never used. Without either, these tests skip with the reason, or fail under MOTIA_REQUIRE_SERVICES=1.
Screenshots go to ``test-artifacts/`` (gitignored); a failing test leaves ``<test>-failed.png`` there too.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import services
from tests.support.server import ROOT, LiveServer, base_env

CHROMIUM = os.environ.get("MOTIA_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
               "--no-first-run", "--disable-sync", "--disable-dev-shm-usage"]
#: Milliseconds between the fake model's tokens: slow enough that the reply visibly grows.
FAKE_LLM_DELAY_MS = "40"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.e2e)


def workbench_env(database_url: str) -> dict[str, str]:
    return base_env(database_url, DJANGO_SETTINGS_MODULE="tests.scenarios.browser.settings",
                    FAKE_LLM_DELAY_MS=FAKE_LLM_DELAY_MS)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Module-scoped: Playwright's sync API leaves its event loop marked running in this thread while it is
    open, which would break every async test that runs after it in the session."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        services.skip_or_fail("Python playwright is not installed (pip install -e '.[test]')")
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        services.skip_or_fail(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def workbench_server(live_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The example project with the workbench on (DEBUG) and its static files served, on a free port."""
    server = LiveServer(workbench_env(live_db_url), log_dir=tmp_path_factory.mktemp("logs"),
                        app="tests.scenarios.browser.asgi:application")
    with server:
        yield server


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call":
        item.stash[_failed] = report.failed
    return report


_failed = pytest.StashKey[bool]()


@pytest.fixture
def new_page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """``new_page()`` opens a page in a fresh context; console errors are collected in ``page.errors``."""
    ARTIFACTS.mkdir(exist_ok=True)
    contexts: list[Any] = []
    pages: list[Any] = []

    def make() -> Any:
        context = browser.new_context(viewport={"width": 1360, "height": 900})
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        page.errors = []
        page.on("pageerror", lambda exc: page.errors.append(str(exc)))
        page.on("console", lambda msg: page.errors.append(msg.text) if msg.type == "error" else None)
        pages.append(page)
        return page

    yield make
    if request.node.stash.get(_failed, False):
        for i, page in enumerate(pages):
            page.screenshot(path=str(ARTIFACTS / f"{request.node.name}-failed-{i}.png"), full_page=True)
    for context in contexts:
        context.close()


def shot(page: Any, name: str) -> Path:
    """Save a screenshot to test-artifacts/ (look at them: the page must look right, not just pass)."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"workbench-{name}.png"
    page.screenshot(path=str(path))
    return path
