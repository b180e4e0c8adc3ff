"""The HTTP side of the ASGI application: API steps on a lean handler, everything else on Django's own.

``get_asgi_application()`` replaces Django's in a project's ``asgi.py`` (and, in the embedded setup, starts the
process's event runner: see its docstring). A request whose path resolves to an API step is served by
``motia_django.steps.handler.StepsHandler``; every other request (the admin, the workbench, the project's views)
by Django's ``ASGIHandler`` (``GuardedRequests``: a 400, not a 500, for a request Django refuses to build).
``lifespan`` answers the ASGI lifespan protocol.
"""

from __future__ import annotations

from typing import Any

from django.urls import Resolver404, get_resolver

from motia_django.bridge import blocking
from motia_django.steps.handler import GuardedRequests, StepsHandler

__all__ = ["Router", "get_asgi_application", "lifespan"]


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


class Router:
    """Sends API step requests to ``StepsHandler``, ``lifespan`` to ``lifespan()``, and the rest to Django's
    ``ASGIHandler``."""

    def __init__(self) -> None:
        from motia_django.steps.views import AsyncStepView, StepView  # after django.setup()

        self.step_view, self.async_step_view = StepView, AsyncStepView
        self.django = GuardedRequests()
        self.steps = StepsHandler()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            match = self.step_match(scope.get("path", ""))
            if match is not None:
                scope = {**scope, "motia.match": match,
                         "motia.sync_step": not issubclass(match.func.view_class, self.async_step_view)}
                await self.steps(scope, receive, send)
                return
        elif scope["type"] == "lifespan":
            await lifespan(scope, receive, send)
            return
        await self.django(scope, receive, send)


    def step_match(self, path: str) -> Any:
        """The resolved API step route of ``path``, or None (a request for Django's own handler)."""
        try:
            match = get_resolver().resolve(path)
        except Resolver404:
            return None
        view_class = getattr(match.func, "view_class", None)
        return match if isinstance(view_class, type) and issubclass(view_class, self.step_view) else None


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
    return Router()
