"""A cron step: every night, delete the finished events nobody needs any more.

Every emit stores one ``Event`` row per subscribing step, and a ``done`` one stays for the admin and the
workbench's Events page to show; nothing else removes it. Runs at 03:00 in ``TIME_ZONE``;
``EVENT_RETENTION_DAYS`` (default 7) says how old is old. Failed and dead events stay: someone should look at
them. Idempotent, as every step must be: a second run finds nothing left to delete.
"""

import os
from datetime import timedelta

from django.utils import timezone

from motia_django.models import Event

config = {
    "type": "cron",
    "name": "CleanUpFinishedEvents",
    "description": "Delete done events older than EVENT_RETENTION_DAYS (default 7)",
    "cron": "0 3 * * *",
    "emits": [],
    "flows": ["housekeeping"],
}


def handler(context):
    days = float(os.environ.get("EVENT_RETENTION_DAYS", "7"))
    cutoff = timezone.now() - timedelta(days=days)
    deleted, _ = Event.objects.filter(status=Event.Status.DONE, updated_at__lt=cutoff).delete()
    context.logger.info("Deleted finished events", {"deleted": deleted, "olderThanDays": days})
