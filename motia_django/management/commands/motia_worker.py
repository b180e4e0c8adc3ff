"""``manage.py motia_worker``: run event steps (and cron ticks) in this process until stopped.

The runner starts at once (events stored while no worker ran, retries and expired leases are found by its
poll) and Channels' worker listens for wake-ups on ``MOTIA["WORKER_CHANNEL"]`` of the worker layer. Start as
many as you like; they share the events and the cron ticks through the database.

SIGTERM and SIGINT (Ctrl-C) stop it cleanly: no more claims, running handlers are cancelled, their events go
back to ``pending`` (due now, so another worker or the next start runs them at once), and it exits 0. Only a
worker killed outright (SIGKILL) leaves its events to their lease (``EVENT_LEASE_SECONDS``).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from typing import Any

from channels.layers import get_channel_layer
from channels.worker import Worker
from django.core.management import BaseCommand, CommandError, CommandParser

from motia_django.asgi import tune_gc
from motia_django.conf import motia_settings
from motia_django.steps.worker import background_worker, channel_router, events_in_process, worker_layer_alias

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Command(BaseCommand):
    help = "Run event steps: claim due events now and on every wake-up, until stopped (SIGTERM/SIGINT)."
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
        tune_gc()
        background_worker().start()
        channel = motia_settings.WORKER_CHANNEL
        self.stdout.write(f"motia_worker: running event steps; wake-ups on {channel!r} ({alias!r} layer)")
        worker = Worker(application=channel_router(), channels=[channel], channel_layer=layer)
        try:
            asyncio.run(self.listen(worker))
        finally:
            released = background_worker().stop()
        self.stdout.write(f"motia_worker: stopped; {released} running event(s) given back")

    async def listen(self, worker: Worker) -> None:
        """Listen for wake-ups until SIGTERM or SIGINT (or until the listener fails, which is raised)."""
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in STOP_SIGNALS:
            loop.add_signal_handler(sig, stop.set)
        listening = asyncio.ensure_future(worker.arun())
        stopping = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({listening, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for sig in STOP_SIGNALS:
                loop.remove_signal_handler(sig)
            for task in (listening, stopping):
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await stopping
            if not listening.cancelled() and listening.done():
                listening.result()  # a listener error (e.g. the channel layer) ends the worker with it
            with contextlib.suppress(asyncio.CancelledError):
                await listening
