"""motia_django.workbench.access: the workbench is on in DEBUG and off otherwise unless opted in, then for
active staff only; it shows a project's data, so it must not be open by accident."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client, override_settings

PAGES = ["/endpoints", "/streams", "/flows", "/events"]


APIS = ["/workbench/api/steps", "/workbench/api/streams", "/workbench/api/streams/chatMessage/groups",
        "/workbench/api/streams/chatMessage/groups/room-1", "/workbench/api/events", "/workbench/api/flows"]


debug = override_settings(DEBUG=True)


@pytest.mark.django_db
@pytest.mark.parametrize("url", PAGES + APIS)
def test_on_in_debug(client: Client, url: str) -> None:
    with debug:
        assert client.get(url).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("url", PAGES + APIS)
def test_off_without_debug_by_default(client: Client, url: str) -> None:
    assert client.get(url).status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize("url", PAGES[:1] + APIS[:1])
def test_setting_false_turns_it_off_even_in_debug(client: Client, url: str) -> None:
    with override_settings(DEBUG=True, MOTIA={"WORKBENCH": False}):
        assert client.get(url).status_code == 404


@pytest.mark.django_db
class TestOptInWithoutDebug:
    """``MOTIA["WORKBENCH"] = True`` without DEBUG: active staff only."""

    @pytest.fixture(autouse=True)
    def _opt_in(self, settings: Any) -> None:
        settings.DEBUG = False
        settings.MOTIA = {**settings.MOTIA, "WORKBENCH": True}

    def test_anonymous_page_redirects_to_login(self, client: Client) -> None:
        response = client.get("/endpoints")
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/?next=/endpoints")

    def test_anonymous_json_is_403(self, client: Client) -> None:
        response = client.get("/workbench/api/streams")
        assert response.status_code == 403
        assert "staff" in response.json()["error"]

    def test_non_staff_user_is_403(self, client: Client) -> None:
        client.force_login(User.objects.create_user("bob", password="x"))
        assert client.get("/endpoints").status_code == 403
        assert client.get("/workbench/api/events").status_code == 403

    def test_inactive_staff_is_refused(self, client: Client) -> None:
        user = User.objects.create_user("carol", password="x", is_staff=True)
        client.force_login(user)
        User.objects.filter(pk=user.pk).update(is_active=False)
        assert client.get("/endpoints").status_code != 200

    @pytest.mark.parametrize("url", PAGES + APIS)
    def test_staff_gets_everything(self, client: Client, url: str) -> None:
        client.force_login(User.objects.create_user("alice", password="x", is_staff=True))
        assert client.get(url).status_code == 200


PRIVATE = {"private": {"schema": {"type": "object"}, "canAccess": "tests.support.live_access.can_access"}}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("debug_mode", [False, True])
def test_staff_see_only_the_groups_the_streams_access_allows_them_outside_debug(client: Client, settings: Any,
                                                                                debug_mode: bool) -> None:
    """The private stream lets a user read only the group of their name (and ``public``): outside DEBUG a staff
    user bob sees his group and public in the workbench, not alice's; in DEBUG, everything."""
    from motia_django import streams

    settings.DEBUG = debug_mode
    settings.MOTIA = {**settings.MOTIA, "WORKBENCH": True, "AUTHENTICATE": None}
    with override_settings(STREAMS=PRIVATE):
        for group in ("alice", "bob", "public"):
            streams.private.set(group, "note", {"text": f"{group}'s"})
        client.force_login(User.objects.create_user("bob", password="x", is_staff=True))
        groups = client.get("/workbench/api/streams/private/groups").json()["groups"]
        alices = client.get("/workbench/api/streams/private/groups/alice")
        own = client.get("/workbench/api/streams/private/groups/bob")
    assert own.status_code == 200 and [i["text"] for i in own.json()["items"]] == ["bob's"]
    if debug_mode:
        assert groups == ["alice", "bob", "public"] and alices.status_code == 200
    else:
        assert groups == ["bob", "public"]
        assert alices.status_code == 403 and "access" in alices.json()["error"]
