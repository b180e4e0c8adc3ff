"""A per-minute cron step that records each run (its trace id, the tick it ran for, and which process ran it)."""

import os

from motia_django.models import StateEntry

config = {"type": "cron", "name": "EveryMinute", "cron": "* * * * *", "emits": [], "flows": ["cron-tests"]}


def handler(context):
    StateEntry.objects.create(group="cron-runs", key=context.trace_id, value={"pid": os.getpid()})
