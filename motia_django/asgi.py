"""The HTTP side of the ASGI application: API steps on a lean handler, everything else on Django's own.

``get_asgi_application()`` replaces Django's in a project's ``asgi.py`` (and, in the embedded setup, starts the
process's event runner: see its docstring). A request whose path resolves to an API step is served by
``motia_django.steps.handler.StepsHandler``; every other request (the admin, the workbench, the project's views)
by Django's ``ASGIHandler`` (``GuardedRequests``: a 400, not a 500, for a request Django refuses to build).
``lifespan`` answers the ASGI lifespan protocol.
"""

from __future__ import annotations

import gc
from collections import OrderedDict
from typing import Any

from django.urls import Resolver404, ResolverMatch, get_resolver

from motia_django.bridge import blocking
from motia_django.steps.handler import GuardedRequests, StepsHandler

__all__ = ["Router", "StepRoutes", "get_asgi_application", "lifespan", "tune_gc"]


async def lifespan(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The ASGI ``lifespan`` protocol: on shutdown, stop this process's event runner, which gives back the events
    it was running. Route ``"lifespan"`` to it in a ``ProtocolTypeRouter`` (``Router`` answers it itself).

    Needed on uvicorn: after a graceful shutdown on SIGTERM it raises the signal again with the default handler,
    so the process dies without running exit hooks. Daphne has no lifespan and exits normally, so the exit hook
    of ``motia_django.steps.worker`` does it there.
    """
    from motia_django.steps.worker import background_worker

    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await blocking(background_worker().stop)
            await send({"type": "lifespan.shutdown.complete"})
            return


class StepRoutes:
    """Which requests are API steps: ``match(path)`` is the path's resolved step route, or None.

    Django resolves a path by trying every pattern of the URLconf in turn (about 20 us on the example's); the
    answers for the paths seen last are kept, bounded in items (``size``) and in bytes (a path longer than
    ``max_path`` is resolved each time, never kept). Each request gets its own copy of the match, so a middleware
    that edits its view's kwargs edits only its own. A new URLconf (``clear_url_caches()``, as
    ``override_settings(ROOT_URLCONF=...)`` does) starts afresh.
    """

    def __init__(self, step_view: type, size: int = 1024, max_path: int = 512) -> None:
        self.step_view, self.size, self.max_path = step_view, size, max_path
        self.resolver: Any = None
        self.seen: OrderedDict[str, ResolverMatch | None] = OrderedDict()

    def match(self, path: str) -> ResolverMatch | None:
        resolver = get_resolver()
        if resolver is not self.resolver:
            self.resolver, self.seen = resolver, OrderedDict()
        try:
            found = self.seen[path]
        except KeyError:
            found = self.resolve(resolver, path)
            if len(path) <= self.max_path:
                self.seen[path] = found
                if len(self.seen) > self.size:
                    self.seen.popitem(last=False)
        else:
            self.seen.move_to_end(path)
        return None if found is None else _copy(found)

    def resolve(self, resolver: Any, path: str) -> ResolverMatch | None:
        try:
            match = resolver.resolve(path)
        except Resolver404:
            return None
        view_class = getattr(match.func, "view_class", None)
        return match if isinstance(view_class, type) and issubclass(view_class, self.step_view) else None


def _copy(match: ResolverMatch) -> ResolverMatch:
    mine = ResolverMatch.__new__(ResolverMatch)  # (ResolverMatch refuses copy.copy: it forbids pickling)
    fields = mine.__dict__
    fields.update(match.__dict__)
    for name in ("kwargs", "captured_kwargs", "extra_kwargs"):
        fields[name] = dict(fields.get(name) or {})
    return mine


class Router:
    """Sends API step requests to ``StepsHandler``, ``lifespan`` to ``lifespan()``, and the rest to Django's
    ``ASGIHandler``."""

    def __init__(self) -> None:
        from motia_django.steps.views import AsyncStepView, StepView  # after django.setup()

        self.step_view, self.async_step_view = StepView, AsyncStepView
        self.django = GuardedRequests()
        self.steps = StepsHandler()
        self.routes = StepRoutes(StepView)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            match = self.routes.match(scope.get("path", ""))
            if match is not None:
                view_class = match.func.view_class  # type: ignore[attr-defined]  # a step route's view
                scope = {**scope, "motia.match": match,
                         "motia.sync_step": not issubclass(view_class, self.async_step_view)}
                await self.steps(scope, receive, send)
                return
        elif scope["type"] == "lifespan":
            await lifespan(scope, receive, send)
            return
        await self.django(scope, receive, send)


def get_asgi_application(*, run_events: bool | None = None) -> Router:
    """Django's ASGI application, with API steps on ``StepsHandler`` (use it in place of Django's).

    Building it is the sign that this process is a server. When events run in the server process
    (``run_events``, by default ``motia_django.steps.worker.events_in_process()``: the embedded setup), the event
    runner starts now, not at the first request: events the previous run left pending or gave back on its way
    down, and cron ticks, run as the server starts. The runner gives its running events back when the server
    stops: at the ASGI lifespan shutdown (uvicorn; route ``"lifespan"`` to ``lifespan``) or when the process
    exits normally (Daphne, on SIGTERM or Ctrl-C). Pass ``run_events=False`` to leave it to the first emit or
    request (e.g. in a process that builds the application without serving it).
    """
    import django

    django.setup(set_prefix=False)
    from motia_django.steps.worker import background_worker, events_in_process  # after django.setup()

    if events_in_process() if run_events is None else run_events:
        background_worker().start()
    router = Router()
    tune_gc()
    return router


def tune_gc() -> None:
    """``MOTIA["GC_THRESHOLD"]`` for a server or worker process, once its code is loaded: the collector's youngest
    generation runs after that many new objects instead of Python's 700, and everything alive now (modules, the
    URLconf, the registries) is frozen out of later scans (``gc.freeze()``, after one full collection). At Python's
    threshold full collections came every few thousand requests and walked every open socket (pauses over 100 ms
    with 1,000 sockets, a third of a join burst's CPU); docs/performance.md, "The request path", has the figures
    and the cost (longer young collections, up to that many objects of cyclic garbage waiting)."""
    from motia_django.conf import motia_settings

    threshold = motia_settings.GC_THRESHOLD
    if threshold is None:
        return
    gc.collect()
    gc.freeze()
    _gen0, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(threshold, gen1, gen2)
