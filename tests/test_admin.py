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


# --- actions that run code need change permission (issue #18) ----------------------------------------------------


def _staff(django_user_model, *codenames):
    from django.contrib.auth.models import Permission

    user = django_user_model.objects.create_user("operator", password="pw-operator-1", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="motia_django",
                                                        codename__in=codenames))
    return user


def _failed_event():
    from django.utils import timezone

    from motia_django.models import Event

    return Event.objects.create(topic="t", step="S", trace_id="tr", status=Event.Status.FAILED, attempts=3,
                                available_at=timezone.now())


@pytest.mark.parametrize("codenames,runs", [
    (["view_event"], False),
    (["view_event", "change_event"], True),
])
def test_running_events_again_needs_change_permission(client, django_user_model, codenames, runs):

    event = _failed_event()
    client.force_login(_staff(django_user_model, *codenames))
    url = reverse("admin:motia_django_event_changelist")
    page = client.get(url)
    assert page.status_code == 200
    assert ("retry_events" in page.content.decode()) is runs  # the action is offered only with change permission
    client.post(url, {"action": "retry_events", "_selected_action": [event.pk]})
    event.refresh_from_db()
    assert (event.status, event.attempts) == (("pending", 0) if runs else ("failed", 3))


@pytest.mark.parametrize("codenames,runs", [
    (["view_cronschedule"], False),
    (["view_cronschedule", "change_cronschedule"], True),
])
def test_running_a_cron_step_now_needs_change_permission(client, django_user_model, settings, codenames, runs):
    from motia_django.models import CronSchedule, Event
    from motia_django.steps.cron import CRON_TOPIC, enqueue_due_ticks
    from motia_django.steps.registry import step_registry
    from tests.support.steps import FIXTURES, use_steps

    use_steps(settings, FIXTURES / "cron")
    settings.ROOT_URLCONF = "example_project.urls"  # the admin (use_steps routes the fixture steps)
    enqueue_due_ticks(step_registry.cron_steps)
    schedule = CronSchedule.objects.get(step="EveryMinute")
    client.force_login(_staff(django_user_model, *codenames))
    url = reverse("admin:motia_django_cronschedule_changelist")
    assert ("run_now" in client.get(url).content.decode()) is runs
    before = Event.objects.filter(topic=CRON_TOPIC, step="EveryMinute").count()
    client.post(url, {"action": "run_now", "_selected_action": [schedule.pk]})
    after = Event.objects.filter(topic=CRON_TOPIC, step="EveryMinute").count()
    assert after - before == (1 if runs else 0)
