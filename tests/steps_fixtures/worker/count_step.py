"""Records each run under a unique key: a second run of one event would fail (and show as attempts 2)."""

import os

from motia_django.models import StateEntry

config = {"type": "event", "name": "Count", "subscribes": ["worker.count"], "emits": []}


def handler(input, context):
    StateEntry.objects.create(group="runs", key=str(input["n"]), value=os.getpid())
