"""Model-backed streams (the example's ``todos``: the todo app's rows grouped by list_id): every save and delete
(ORM, admin, DRF views, the stream API) reaches the list's subscribers; joins sync from the queryset; the stream
API writes the row through the serializer; the bulk escape hatch; across processes over Redis."""

from __future__ import annotations

import json
import uuid

import pytest
from asgiref.sync import sync_to_async
from django.test import override_settings
from rest_framework.test import APIClient

from example_project.todo.models import Todo
from motia_django import StreamValidationError, streams
from motia_django.stream.registry import registry
from tests.support.realtime import Client, NodeClient, error_code
from tests.support.server import LiveServer, base_env, live_database

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_layers")]


def todo(pk: int, list_id: str, title: str, done: bool = False) -> dict:
    return {"id": str(pk), "list_id": list_id, "title": title, "done": done}


async def joined(group: str, id: str | None = None) -> tuple[Client, dict]:
    client = await Client().connect()
    await client.join("todos", group, id)
    return client, await client.next()


async def test_orm_saves_and_deletes_are_broadcast_and_a_moved_todo_changes_groups():
    client, sync = await joined("home")
    assert sync["event"] == {"type": "sync", "data": []}
    row = await Todo.objects.acreate(list_id="home", title="milk")
    assert (await client.next())["event"] == {"type": "create", "data": todo(row.pk, "home", "milk")}
    row.done = True
    await row.asave()
    update = await client.next()
    assert update["event"] == {"type": "update", "data": todo(row.pk, "home", "milk", True)} and update["id"] == str(row.pk)
    row.list_id = "work"
    await row.asave()  # leaves "home": its subscribers see the item as it was there
    assert (await client.next())["event"] == {"type": "delete", "data": todo(row.pk, "home", "milk", True)}
    other, other_sync = await joined("work")
    assert other_sync["event"]["data"] == [todo(row.pk, "work", "milk", True)]
    pk = row.pk
    await row.adelete()  # Django clears row.pk
    assert (await other.next())["event"] == {"type": "delete", "data": todo(pk, "work", "milk", True)}
    await client.close()
    await other.close()


async def test_the_drf_viewset_and_the_admin_reach_subscribers(admin_client):
    client, _ = await joined("groceries")
    api = APIClient()
    created = await sync_to_async(api.post)("/todos/", {"list_id": "groceries", "title": "eggs"}, format="json")
    assert created.status_code == 201
    pk = created.json()["id"]
    assert (await client.next())["event"] == {"type": "create", "data": todo(pk, "groceries", "eggs")}
    patched = await sync_to_async(api.patch)(f"/todos/{pk}/", {"done": True}, format="json")
    assert patched.status_code == 200
    assert (await client.next())["event"]["data"]["done"] is True
    changed = await sync_to_async(admin_client.post)(f"/admin/todo/todo/{pk}/change/",
                                                     {"list_id": "groceries", "title": "brown eggs", "done": "on"})
    assert changed.status_code == 302
    assert (await client.next())["event"]["data"]["title"] == "brown eggs"
    assert (await sync_to_async(api.delete)(f"/todos/{pk}/")).status_code == 204
    assert (await client.next())["event"]["type"] == "delete"
    await client.close()


def test_the_stream_api_writes_rows_through_the_serializer(changes):
    created = streams.todos.set("chores", "41", {"title": "dishes", "done": False})
    assert created["id"] == "41" and Todo.objects.get(pk=41).list_id == "chores"
    streams.todos.update("chores", "41", [{"type": "set", "path": "done", "value": True}])
    assert Todo.objects.get(pk=41).done is True
    assert streams.todos.get("chores", "41") == todo(41, "chores", "dishes", True)
    assert streams.todos.get_group("chores") == [todo(41, "chores", "dishes", True)]
    assert streams.todos.list_groups() == ["chores"]
    with pytest.raises(StreamValidationError) as info:
        streams.todos.set("chores", "42", {"title": "x" * 500})
    assert info.value.errors[0]["path"] == "title" and not Todo.objects.filter(pk=42).exists()
    assert streams.todos.delete("chores", "41") == todo(41, "chores", "dishes", True)
    assert not Todo.objects.exists() and streams.todos.delete("chores", "41") is None
    assert [c.type for c in changes] == ["create", "update", "delete"]  # once each, by the model's receivers
    timestamps = [c.timestamp for c in changes]
    assert timestamps == sorted(timestamps) and len(set(timestamps)) == 3


def test_a_row_created_under_a_chosen_id_does_not_take_the_next_orm_id():
    first = Todo.objects.create(list_id="ids", title="first")
    streams.todos.set("ids", str(first.pk + 1), {"title": "chosen"})
    assert Todo.objects.create(list_id="ids", title="next").pk == first.pk + 2  # PostgreSQL's sequence moved on


def test_bulk_writes_are_broadcast_on_request(changes):
    Todo.objects.bulk_create([Todo(list_id="bulk", title=f"t{i}") for i in range(3)])
    assert changes == []  # no signals
    assert Todo.objects.filter(list_id="bulk").broadcast_changes(event="create") == 3
    Todo.objects.filter(list_id="bulk").update(done=True)
    Todo.objects.filter(list_id="bulk").broadcast_changes()
    assert [c.type for c in changes] == ["create"] * 3 + ["update"] * 3
    assert all(c.event["data"]["done"] for c in changes[3:])


async def test_can_access_and_item_joins_work_as_for_any_stream():
    row = await Todo.objects.acreate(list_id="secret", title="plan")
    definition = {"model": "todo.Todo", "group_by": "list_id",
                  "serializer": "example_project.todo.serializers.TodoSerializer",
                  "canAccess": lambda sub, auth: sub["groupId"] != "secret"}
    with override_settings(STREAMS={"guarded": definition}):
        client = await Client().connect()
        await client.join("guarded", "secret")
        assert error_code(await client.next()) == "STREAM_ACCESS_DENIED"
        await client.join("guarded", "open", str(row.pk))
        assert (await client.next())["event"] == {"type": "sync", "data": None}
        await client.close()
    item_client, sync = await joined("secret", str(row.pk))
    assert sync["event"] == {"type": "sync", "data": todo(row.pk, "secret", "plan")} and sync["timestamp"] > 0
    await item_client.close()


def test_bad_model_stream_definitions_are_check_errors():
    with override_settings(STREAMS={
        "a": {"model": "todo.Nope", "group_by": "list_id", "serializer": "example_project.todo.serializers.TodoSerializer"},
        "b": {"model": "todo.Todo", "group_by": "nope", "serializer": "example_project.todo.serializers.TodoSerializer"},
        "c": {"model": "todo.Todo", "group_by": "list_id", "serializer": "json.dumps"},
    }):
        assert [e.id for e in registry.errors if e.msg.startswith("settings.STREAMS")] == ["motia_django.E016"] * 3


@pytest.mark.services
@pytest.mark.e2e
def test_a_model_save_in_one_process_reaches_a_subscriber_of_another(postgres_url, redis_url, tmp_path):
    import urllib.request

    group = f"list-{uuid.uuid4().hex[:6]}"
    with live_database(tmp_path, postgres_url) as db_url:
        env = base_env(db_url, REDIS_URL=redis_url)
        with LiveServer(env, log_dir=tmp_path) as one, LiveServer(env, log_dir=tmp_path) as two, \
                NodeClient(two.ws_url) as client:
            client.group("todos", "todos", group)
            client.wait_state("todos", [])
            request = urllib.request.Request(f"{one.url}/todos/", method="POST",
                                             data=json.dumps({"list_id": group, "title": "across"}).encode(),
                                             headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=15) as response:
                pk = json.loads(response.read())["id"]
            client.wait_state("todos", [todo(pk, group, "across")])
