"""The docs stay true: every setting of ``MOTIA`` and every system check id is documented, each id on its own row.
And the checks that say a deployment is open: W022 (a model-backed stream anyone may read) and the deployment
checks of ``manage.py check --deploy`` (W030-W032)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.core.checks import run_checks
from django.test import override_settings

from motia_django.conf import DEFAULTS

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "motia_django"


def _documented() -> str:
    return (ROOT / "docs" / "reference" / "checks.md").read_text()


def test_every_setting_is_in_the_settings_reference():
    page = (ROOT / "docs" / "reference" / "settings.md").read_text()
    assert [key for key in DEFAULTS if f"| `{key}` |" not in page] == []


def test_every_check_id_is_documented():
    ids = {found for path in PACKAGE.rglob("*.py")
           for found in re.findall(r"motia_django\.([EW]\d{3})", path.read_text())}
    rows = re.findall(r"^\| `motia_django\.([EW]\d{3})` \|", _documented(), flags=re.M)
    assert ids and sorted(i for i in ids if i not in rows) == []
    assert sorted(rows) == sorted(set(rows)), "an id documented twice"


# --- checks that say a deployment is open (issue #18) -----------------------------------------------------------

ALL_TODOS = {"model": "todo.Todo", "group_by": "list_id",
             "serializer": "example_project.todo.serializers.TodoSerializer"}


def _ids(found: list[Any]) -> list[str]:
    return [message.id for message in found]


@pytest.mark.parametrize(("definition", "motia", "warned"), [
    (ALL_TODOS, {}, True),  # a model-backed stream without canAccess, DEFAULT_ACCESS "allow": its table is public
    ({**ALL_TODOS, "canAccess": "tests.support.live_access.can_access"}, {}, False),
    (ALL_TODOS, {"DEFAULT_ACCESS": "authenticated"}, False),
    ({"schema": {"type": "object"}}, {}, False),  # a stream of its own items: only what is written to it
])
def test_a_model_backed_stream_open_to_anyone_is_w022(settings, definition, motia, warned):
    from motia_django.checks import check_streams

    settings.MOTIA = {**settings.MOTIA, **motia}
    with override_settings(STREAMS={"allTodos": definition}):
        found = [m for m in check_streams() if m.id == "motia_django.W022"]
    assert bool(found) is warned
    if warned:
        assert "'allTodos'" in found[0].msg and "every row" in found[0].msg


def test_the_examples_todos_stream_says_its_access():
    from motia_django.checks import check_streams

    assert "motia_django.W022" not in _ids(check_streams())


def test_deployment_checks_are_in_check_deploy_only(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    settings.MOTIA = {**settings.MOTIA, "DEFAULT_ACCESS": "allow", "METRICS_TOKEN": None}
    with override_settings(ROOT_URLCONF="example_project.urls"):  # /metrics is mounted
        deploy = _ids(run_checks(include_deployment_checks=True))
        plain = _ids(run_checks())
    assert {"motia_django.W030", "motia_django.W031", "motia_django.W032"} <= set(deploy)
    assert not {"motia_django.W030", "motia_django.W031", "motia_django.W032"} & set(plain)


def test_a_deployment_that_closes_them_gets_none(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
                                           "CONFIG": {"hosts": ["redis://127.0.0.1:1"]}}}
    settings.MOTIA = {**settings.MOTIA, "DEFAULT_ACCESS": "authenticated", "METRICS_TOKEN": "t" * 32}
    from motia_django.checks import check_deployment

    with override_settings(ROOT_URLCONF="example_project.urls"):
        assert _ids(check_deployment()) == []
