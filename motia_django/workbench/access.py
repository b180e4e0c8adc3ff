"""Who may open the workbench: on in DEBUG, opt-in otherwise (``MOTIA["WORKBENCH"]``), staff-only without DEBUG."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse

from motia_django.bridge import run_async
from motia_django.conf import motia_settings
from motia_django.realtime.auth import authenticate
from motia_django.realtime.joins import can_join
from motia_django.stream.api import Stream

__all__ = ["may_read", "workbench_enabled", "workbench_view"]


def workbench_enabled() -> bool:
    """``MOTIA["WORKBENCH"]`` when set, else ``DEBUG``."""
    value = motia_settings.WORKBENCH
    return bool(settings.DEBUG) if value is None else bool(value)


def _allowed(request: HttpRequest) -> bool:
    if settings.DEBUG:
        return True
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_active and user.is_staff)


def workbench_view(*, json: bool = False) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Guard a view: 404 when the workbench is off; without DEBUG, non-staff users are sent to the login page
    (pages) or get a 403 (``json=True``)."""

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not workbench_enabled():
                raise Http404("The workbench is off (MOTIA['WORKBENCH']).")
            if not _allowed(request):
                if json:
                    return JsonResponse({"error": "The workbench is for staff users only."}, status=403)
                if getattr(request, "user", None) is not None and request.user.is_authenticated:
                    return HttpResponse("The workbench is for staff users only.", status=403,
                                        content_type="text/plain; charset=utf-8")
                return redirect_to_login(request.get_full_path(), _login_url())
            return view(request, *args, **kwargs)

        return wrapper

    return decorate


def _login_url() -> str:
    from django.urls import NoReverseMatch, reverse

    try:
        return reverse("admin:login")
    except NoReverseMatch:
        return str(settings.LOGIN_URL)


def may_read(request: HttpRequest, stream: Stream, group_id: str) -> bool:
    """May this request see ``group_id`` of ``stream``? In ``DEBUG``, yes; otherwise what the stream's access
    allows its user over the WebSocket (``canAccess`` or ``DEFAULT_ACCESS``, with the auth context
    ``AUTHENTICATE`` makes of the session): staff see no more than their own browser may subscribe to."""
    if settings.DEBUG:
        return True
    user = getattr(request, "user", None)
    scope: dict[str, Any] = {"type": "websocket", "path": request.path, "headers": [], "user": user}
    subscription = {"streamName": stream.name, "groupId": group_id, "subscriptionId": "workbench"}

    async def decide() -> bool:
        try:
            return await can_join(stream, subscription, await authenticate(scope, None))
        except Exception:  # a refusing hook refuses
            return False

    return bool(run_async(decide)())
