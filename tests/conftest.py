"""Test-suite policy for services: tests marked ``services`` (and the whole PostgreSQL run) skip with a reason
when PostgreSQL or Redis cannot be reached, and fail instead when ``MOTIA_REQUIRE_SERVICES=1`` (as in CI)."""

from __future__ import annotations

import inspect
import os
import traceback
from typing import Any

import pytest

from tests.support import services


def pytest_report_header(config: pytest.Config) -> str:
    from django.conf import settings

    db = settings.DATABASES["default"]
    return f"motia_django: database {db['ENGINE'].rsplit('.', 1)[-1]} {db.get('NAME')}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    from django.conf import settings

    if settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        reason = services.postgres_unavailable()
        if reason:
            services.skip_or_fail_all(items, f"PostgreSQL run: {reason}")


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """A failing test is reported as a failure, never as an INTERNALERROR that ends the run: CPython 3.11 can raise
    ``SystemError: AST constructor recursion depth mismatch`` when pytest parses a test's source for the failure's
    report (after tests that hit Python's recursion limit on purpose, e.g. JSON nested 10,000 deep). The report
    then falls back to a plain traceback."""
    try:
        return (yield)
    except SystemError as exc:
        if "recursion depth mismatch" not in str(exc) or call.excinfo is None:
            raise
        text = "".join(traceback.format_exception(call.excinfo.value))
        return pytest.TestReport(item.nodeid, item.location, dict.fromkeys(item.keywords, 1), "failed",
                                 f"{text}\n(pytest's own report of this failure broke: {exc})", call.when,
                                 duration=call.duration, start=call.start, stop=call.stop)


@pytest.fixture
def redis_url() -> str:
    """The real Redis; skips (or fails under MOTIA_REQUIRE_SERVICES=1) when it is not reachable."""
    url = os.environ.get("MOTIA_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    reason = services.redis_unavailable(url)
    if reason:
        services.skip_or_fail(reason)
    return url


@pytest.fixture
def postgres_url() -> str:
    """A PostgreSQL server URL (the admin database); skips/fails like ``redis_url``."""
    url = os.environ.get("MOTIA_TEST_POSTGRES_URL", "postgres://127.0.0.1:5432/postgres")
    reason = services.postgres_unavailable(url)
    if reason:
        services.skip_or_fail(reason)
    return url


@pytest.fixture(scope="module")
def live_db_url(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A fresh migrated database for live servers, of the kind this run uses (SQLite file or PostgreSQL)."""
    from django.conf import settings

    from tests.support.server import live_database

    pg = None
    if settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        db = settings.DATABASES["default"]
        pg = f"postgres://{db.get('USER') or ''}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/postgres"
    with live_database(tmp_path_factory.mktemp("live"), pg) as url:
        yield url


@pytest.fixture(scope="module")
def daphne_server(live_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The example project (tests.support.live_settings) served by a real Daphne on a free loopback port."""
    from tests.support.server import LiveServer, base_env

    server = LiveServer(base_env(live_db_url), log_dir=tmp_path_factory.mktemp("logs"))
    with server:
        yield server


@pytest.fixture
def changes() -> Any:
    """Every ``Change`` sent on ``stream_changed`` (i.e. after commit) during the test, in order."""
    from motia_django.testing import capture_changes

    with capture_changes() as seen:
        yield seen


@pytest.fixture(autouse=True)
def _embedded_runner_per_test() -> Any:
    """A test that wrote an event started the embedded event runner; stop it when the test ends (and give the
    next test a fresh one), so its thread does not poll the database during later tests, where pytest-django
    refuses database access and the runner would log errors into their ``caplog``."""
    yield
    from motia_django.steps import worker

    runner = worker.background_worker()
    if isinstance(runner, worker.BackgroundWorker) and runner.running:  # not a test's stand-in
        runner.stop()
        worker._background = worker.BackgroundWorker()


@pytest.fixture(autouse=True)
def _close_async_thread_connections(request: pytest.FixtureRequest) -> Any:
    """Async tests' ORM calls run on asgiref's sync thread; close its connections after each of them, so
    PostgreSQL can drop the test database at the end (and no test sees another's connection state)."""
    yield
    if inspect.iscoroutinefunction(getattr(request, "function", None)):
        from tests.support.realtime import close_thread_connections

        close_thread_connections()


@pytest.fixture
def fresh_layers() -> Any:
    """Fresh channel layers around a test (the in-memory layer keeps groups and channels across tests)."""
    from tests.support.realtime import reset_layers

    reset_layers()
    yield
    reset_layers()


@pytest.fixture(scope="session", autouse=True)
def _close_pool_connections_at_the_end(django_db_setup: Any) -> Any:
    """The ``motia-db`` threads and asgiref's sync thread keep their connections between calls; close them (and
    stop the embedded event runner) before the test database is dropped (PostgreSQL refuses to drop a database
    others are connected to)."""
    yield
    from motia_django.bridge import close_connections
    from motia_django.steps import worker
    from tests.support.realtime import close_thread_connections

    worker._background.stop()  # an embedded runner some test started would poll a dropped database
    close_connections()
    close_thread_connections()  # asgiref's sync thread, used by sync tests too (through async_to_sync)
