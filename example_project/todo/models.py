"""A todo of a list. Nothing in it knows about streams: the ``todos`` stream (steps/streams/todos_stream.py)
makes every save and delete live for the list's subscribers, whoever makes it (the admin, the API, the shell)."""

from django.db import models

from motia_django.stream.backends.model import StreamQuerySet


class Todo(models.Model):
    list_id = models.CharField(max_length=255, db_index=True)
    title = models.CharField(max_length=200)
    done = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = StreamQuerySet.as_manager()  # for qs.broadcast_changes() after update()/bulk_create()

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.title} ({'done' if self.done else 'to do'})"
