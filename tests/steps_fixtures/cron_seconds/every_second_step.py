"""A cron step ticking every second (six fields, seconds first, as node-cron): two workers race for every tick."""

import os

from motia_django.models import StateEntry

config = {"type": "cron", "name": "EverySecond", "cron": "* * * * * *", "emits": []}


def handler(context):
    StateEntry.objects.create(group="cron-second-runs", key=context.trace_id, value={"pid": os.getpid()})
