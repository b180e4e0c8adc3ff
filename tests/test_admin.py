"""Stream items in the admin: list, filter, search, readable JSON, schema-validated edits that broadcast."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from motia_django import streams
from motia_django.models import StreamItem

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def item():
    streams.chatMessage.set("room-1", "m1", {"id": "m1", "user_id": "u", "message": "hello", "timestamp": "t"})
    streams.openai.set("trace", "message", {"message": ""})
    return StreamItem.objects.get(stream="chatMessage")


def test_changelist_filter_and_search(admin_client, item):
    url = reverse("admin:motia_django_streamitem_changelist")
    page = admin_client.get(url).content.decode()
    assert "room-1" in page and "trace" in page
    filtered = admin_client.get(url, {"stream": "openai"}).content.decode()
    assert "trace" in filtered and "room-1" not in filtered
    searched = admin_client.get(url, {"q": "room-1"}).content.decode()
    assert "room-1" in searched and "trace" not in searched


def test_change_page_shows_indented_json(admin_client, item):
    page = admin_client.get(reverse("admin:motia_django_streamitem_change", args=[item.pk])).content.decode()
    assert "&quot;message&quot;: &quot;hello&quot;" in page
    assert "\n  &quot;user_id&quot;" in page


def post(admin_client, item, data):
    return admin_client.post(reverse("admin:motia_django_streamitem_change", args=[item.pk]), {
        "stream": "chatMessage", "group_id": "room-1", "item_id": "m1",
        "data": data if isinstance(data, str) else json.dumps(data),
    })


def test_valid_edit_saves_and_broadcasts(admin_client, item, changes):
    changes.clear()
    resp = post(admin_client, item, {"id": "m1", "user_id": "u", "message": "edited", "timestamp": "t"})
    assert resp.status_code == 302
    assert streams.chatMessage.get("room-1", "m1")["message"] == "edited"
    assert [c.type for c in changes] == ["update"]


@pytest.mark.parametrize("data,error", [
    ({"id": "m1", "user_id": "u", "message": 5, "timestamp": "t"}, "message: 5 is not of type"),
    ({"id": "m1"}, "user_id: &#x27;user_id&#x27; is a required property"),
    ("{not json", "Enter a valid JSON"),
])
def test_invalid_edit_is_a_form_error_and_saves_nothing(admin_client, item, changes, data, error):
    changes.clear()
    resp = post(admin_client, item, data)
    assert resp.status_code == 200
    assert error in resp.content.decode()
    assert streams.chatMessage.get("room-1", "m1")["message"] == "hello"
    assert changes == []


def test_add_and_delete_through_admin(admin_client, changes):
    resp = admin_client.post(reverse("admin:motia_django_streamitem_add"), {
        "stream": "openai", "group_id": "g", "item_id": "i", "data": '{"message": "hi"}'})
    assert resp.status_code == 302
    row = StreamItem.objects.get()
    resp = admin_client.post(reverse("admin:motia_django_streamitem_delete", args=[row.pk]), {"post": "yes"})
    assert resp.status_code == 302
    assert [c.type for c in changes] == ["create", "delete"]
