"""Runs on every change of the ``todos`` stream (a stream trigger): recounts the list the change belongs to and
writes its ``todoStats`` item, so subscribers see "2 of 5 done" move as todos are added, ticked or removed.

Triggered events are stored with the todo's own write, so a count is never skipped, even when the worker is
down at the time: it runs once the worker is back. Counting (not adding +1/-1) keeps it right when a change runs
twice (delivery is at least once)."""

from example_project.todo.models import Todo

config = {
    "type": "event",
    "name": "CountTodos",
    "description": "Keep each todo list's counts (todoStats) up to date",
    "triggers": [{"type": "stream", "streamName": "todos"}],
    "emits": [],
    "flows": ["todos"],
}


def handler(input, context):
    list_id = input["groupId"]
    todos = Todo.objects.filter(list_id=list_id)
    counts = {"total": todos.count(), "done": todos.filter(done=True).count()}
    context.streams.todoStats.set(list_id, "counts", counts)
    context.logger.info("todo list counted", {"list": list_id, "change": input["event"]["type"], **counts})
