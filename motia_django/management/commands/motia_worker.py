"""``manage.py motia_worker``: run event steps in this process until stopped.

The runner starts at once (events stored while no worker ran, retries and expired leases are found by its
poll) and Channels' worker listens for wake-ups on ``MOTIA["WORKER_CHANNEL"]`` of the worker layer. Start as
many as you like; they share the events through the database.
"""

from __future__ import annotations

from typing import Any

from channels.layers import get_channel_layer
from channels.worker import Worker
from django.core.management import BaseCommand, CommandError, CommandParser

from motia_django.conf import motia_settings
from motia_django.worker import background_worker, channel_router, events_in_process, worker_layer_alias


class Command(BaseCommand):
    help = "Run event steps: claim due events now and on every wake-up, until stopped."
    leave_locale_alone = True

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--layer", default=None,
                            help="Channel layer alias for wake-ups (default: MOTIA['WORKER_LAYER'] or CHANNEL_LAYER).")

    def handle(self, *args: Any, **options: Any) -> None:
        alias = options["layer"] or worker_layer_alias()
        layer = get_channel_layer(alias)
        if layer is None:
            raise CommandError(f"CHANNEL_LAYERS has no {alias!r} layer to receive wake-ups on.")
        if events_in_process():
            self.stderr.write("Note: events also run inside the server processes (MOTIA['EVENTS_IN_PROCESS'] or "
                              "the in-memory layer); this worker only sees wake-ups sent to it.")
        background_worker().start()
        channel = motia_settings.WORKER_CHANNEL
        self.stdout.write(f"motia_worker: running event steps; wake-ups on {channel!r} ({alias!r} layer)")
        Worker(application=channel_router(), channels=[channel], channel_layer=layer).run()
