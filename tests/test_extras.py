"""Dependencies by use: each feature's library is an extra, and a feature whose extra is missing says so.

A missing package is simulated as Python sees one: ``sys.modules[name] = None`` (an import of it, or of any of its
submodules, raises ImportError); the modules of motia_django that decide at import time are then imported afresh
(``motia_django.compat`` first). monkeypatch puts every module back afterwards.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import tomllib
import types
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.test import RequestFactory, override_settings
from django.urls import include, path

from motia_django import checks, compat
from motia_django.exceptions import DefinitionError

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
FEATURES = ("metrics", "openapi", "client", "cron", "postgres", "otel")


def _hide(monkeypatch: pytest.MonkeyPatch, package: str) -> None:
    """Make ``package`` (and every submodule) impossible to import, as when it is not installed."""
    for name in [n for n in sys.modules if n == package or n.startswith(package + ".")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, package, None)


def _forget(monkeypatch: pytest.MonkeyPatch, *modules: str) -> None:
    """Let the next import of these motia_django modules run them again (the old ones come back afterwards)."""
    for name in [n for n in sys.modules if any(n == m or n.startswith(m + ".") for m in modules)]:
        parent, _, child = name.rpartition(".")
        owner = sys.modules.get(parent)
        if owner is not None and hasattr(owner, child):
            monkeypatch.setattr(owner, child, getattr(owner, child))  # restored after the fresh import's
        monkeypatch.delitem(sys.modules, name)


def _without(monkeypatch: pytest.MonkeyPatch, package: str, *modules: str) -> None:
    _hide(monkeypatch, package)
    _forget(monkeypatch, "motia_django.compat", *modules)


def _message(feature: str, extra: str) -> str:
    return f'{feature} needs the {extra!r} extra: pip install "motia-django[{extra}]"'


# --- pyproject.toml ------------------------------------------------------------------------------------------


def _names(requirements: list[str]) -> set[str]:
    return {r.split(";")[0].split("[")[0].split(">")[0].split("<")[0].split("=")[0].strip().lower()
            for r in requirements}


def test_required_dependencies_are_what_every_project_uses():
    assert _names(PYPROJECT["project"]["dependencies"]) == {
        "django", "channels", "daphne", "channels-redis", "djangorestframework", "pydantic", "jsonschema",
        "jsonschema-rs", "orjson"}


def test_all_is_every_feature_and_the_test_extra_holds_everything():
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert set(compat.EXTRAS) == set(FEATURES)
    features = set().union(*(extras[name] for name in FEATURES))
    assert set(extras["all"]) == features
    assert features <= set(extras["example"]) and set(extras["example"]) <= set(extras["test"])
    assert set(extras["example"]) <= set(extras["bench"])
    assert {"build", "twine"} <= _names(extras["test"])
    assert _names(extras["docs"]) == {"mkdocs", "mkdocs-material"} and set(extras["docs"]) <= set(extras["test"])


@pytest.mark.parametrize("extra", FEATURES)
def test_each_extra_is_installed_for_the_suite(extra):
    importlib.import_module(compat.EXTRAS[extra])


# --- metrics -------------------------------------------------------------------------------------------------


def test_without_prometheus_metrics_record_nothing_and_the_endpoint_says_which_extra(monkeypatch):
    _without(monkeypatch, "prometheus_client", "motia_django.metrics")
    metrics = importlib.import_module("motia_django.metrics")
    assert metrics.ENABLED is False and metrics.MULTIPROCESS is False and metrics.multiprocess_dir() is None
    metrics.connections.inc()
    metrics.subscriptions.dec()
    metrics.frames_ignored.labels("binary").inc()
    metrics.frame_written(0.0)
    metrics.flush()
    with metrics.step_timer("s", "api"):
        pass
    for module in ("motia_django.metrics.views", "motia_django.metrics.collectors"):
        with pytest.raises(ImportError) as raised:
            importlib.import_module(module)
        assert str(raised.value) == _message(module, "metrics")
    urls = importlib.import_module("motia_django.metrics.urls")  # the project still starts
    response = urls.urlpatterns[0].callback(RequestFactory().get("/metrics"))
    assert response.status_code == 501 and _message("/metrics", "metrics") in response.content.decode()


def _urlconf(*patterns) -> types.ModuleType:
    module = types.ModuleType("extras_test_urls")
    module.urlpatterns = list(patterns)  # type: ignore[attr-defined]
    return module


def _extra_ids() -> list[str]:
    return [message.id for message in checks._check_extras()]


def test_w023_metrics_mounted_without_prometheus(monkeypatch):
    with override_settings(ROOT_URLCONF=_urlconf(path("", include("motia_django.metrics.urls")))):
        assert _extra_ids() == []
        monkeypatch.setattr(compat, "prometheus_client", None)
        [found] = checks._check_extras()
    assert found.id == "motia_django.W023" and "'metrics' extra" in found.msg
    with override_settings(ROOT_URLCONF=_urlconf()):
        assert _extra_ids() == []  # not mounted: nothing to say


def test_w024_spectacular_schema_class_without_drf_spectacular(monkeypatch):
    monkeypatch.setattr(compat, "has_drf_spectacular", False)
    with override_settings(ROOT_URLCONF=_urlconf()):
        with override_settings(REST_FRAMEWORK={"DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema"}):
            assert _extra_ids() == ["motia_django.W024"]
        with override_settings(REST_FRAMEWORK={}):
            assert _extra_ids() == []


# --- openapi -------------------------------------------------------------------------------------------------


def test_without_drf_spectacular_steps_are_served_and_the_openapi_paths_say_which_extra(monkeypatch):
    from rest_framework.schemas.inspectors import ViewInspector

    _without(monkeypatch, "drf_spectacular", "motia_django.steps.openapi")
    openapi = importlib.import_module("motia_django.steps.openapi")
    assert issubclass(openapi.StepAutoSchema, ViewInspector)
    patterns = {p.name: p for p in openapi.openapi_urlpatterns()}
    assert set(patterns) == {"motia-openapi", "motia-openapi-ui"}
    response = patterns["motia-openapi"].callback(RequestFactory().get("/openapi.json"))
    assert response.status_code == 501 and "'openapi' extra" in response.content.decode()


# --- client --------------------------------------------------------------------------------------------------


def test_without_websockets_the_client_names_its_extra(monkeypatch):
    _without(monkeypatch, "websockets", "motia_django.client")
    with pytest.raises(ImportError) as raised:
        importlib.import_module("motia_django.client")
    assert str(raised.value) == _message("motia_django.client", "client")


def test_without_websockets_streams_tail_names_the_extra_and_the_other_actions_work(monkeypatch):
    _without(monkeypatch, "websockets", "motia_django.client")
    with pytest.raises(CommandError, match=r"tail: motia_django\.client needs the 'client' extra"):
        call_command("streams", "tail", "chatMessage", "room-1")
    call_command("streams", "types", stdout=open(os.devnull, "w"))  # noqa: SIM115


# --- cron ----------------------------------------------------------------------------------------------------


def test_without_croniter_a_cron_step_is_e120(monkeypatch):
    from motia_django.steps.config import build_step

    monkeypatch.setattr(compat, "croniter", None)
    config = {"type": "cron", "name": "Tick", "cron": "*/5 * * * *"}
    with pytest.raises(DefinitionError) as raised:
        build_step(config, lambda context: None, "steps/tick_step.py")
    assert raised.value.id == "motia_django.E120" and "'cron' extra" in str(raised.value.msg)


def test_without_croniter_the_cron_module_still_imports(monkeypatch):
    _without(monkeypatch, "croniter", "motia_django.steps.cron")
    cron = importlib.import_module("motia_django.steps.cron")
    assert cron.CroniterError is ValueError


# --- otel ----------------------------------------------------------------------------------------------------


def test_without_opentelemetry_tracing_is_a_call_through(monkeypatch):
    _without(monkeypatch, "opentelemetry", "motia_django.tracing")
    tracing = importlib.import_module("motia_django.tracing")
    assert tracing.otel is None and tracing.tracer() is None
    with tracing.step_span("s", "api", tracing.new_trace_id()):
        pass


# --- no extra at all -----------------------------------------------------------------------------------------

_CORE_ONLY = """
import sys
for name in {hidden!r}:
    sys.modules[name] = None
import django
from django.conf import settings
settings.configure(
    INSTALLED_APPS=["daphne", "django.contrib.auth", "django.contrib.contenttypes", "rest_framework", "channels",
                    "motia_django"],
    DATABASES={{"default": {{"ENGINE": "django.db.backends.sqlite3", "NAME": {db!r}}}}},
    ROOT_URLCONF="motia_django.urls", ASGI_APPLICATION="motia_django.asgi.application",
    CHANNEL_LAYERS={{"default": {{"BACKEND": "channels.layers.InMemoryChannelLayer"}}}},
    STREAMS={{"notes": {{"schema": {{"type": "object", "properties": {{"text": {{"type": "string"}}}}}}}}}},
    MOTIA={{"STEPS_DIRS": []}}, USE_TZ=True, SECRET_KEY="x",
)
django.setup()
from django.core.management import call_command
call_command("check", fail_level="WARNING")
call_command("migrate", verbosity=0)
import motia_django.urls, motia_django.routing, motia_django.asgi
from motia_django import streams
streams.notes.set("inbox", "n1", {{"text": "hello"}})
print(__import__("json").dumps(streams.notes.get("inbox", "n1")))
"""


def test_the_core_runs_with_no_extra_installed(tmp_path):
    """Settings as in the README, a stream written and read, with every extra's package hidden."""
    hidden = [module.split(".")[0] for module in compat.EXTRAS.values()] + ["dj_database_url", "openai"]
    code = _CORE_ONLY.format(hidden=hidden, db=str(tmp_path / "db.sqlite3"))
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL")}
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    item = json.loads(result.stdout.strip().splitlines()[-1])
    assert item["text"] == "hello"
