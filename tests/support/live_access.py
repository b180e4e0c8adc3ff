"""Auth hooks used by the auth tests and the live test server (tests/live_settings.py).

Tokens: ``alice-token`` -> alice, ``bob-token`` -> bob, ``refuse-401`` / ``refuse-403`` refuse the connection.
A session user is alice/bob by username. ``canAccess``: group ``public`` is open; another group only to the
user of the same name.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied

from motia_django.exceptions import AuthenticationRefused

TOKENS = {"alice-token": "alice", "bob-token": "bob"}
seen: list[tuple[str | None, str]] = []


def authenticate(token: str | None, scope: dict[str, Any]) -> dict[str, Any] | None:
    seen.append((token, scope["path"]))
    if token == "refuse-401":
        raise AuthenticationRefused("bad token")
    if token == "refuse-403":
        raise PermissionDenied("banned")
    if token in TOKENS:
        return {"user": TOKENS[token], "via": "token"}
    user = scope.get("user")
    if user is not None and user.is_authenticated:
        return {"user": user.get_username(), "via": "session"}
    return None


def can_access(subscription: dict[str, Any], auth_context: Any) -> bool:
    if subscription["groupId"] == "public":
        return True
    if auth_context is None:
        return False
    user = auth_context["user"] if isinstance(auth_context, dict) else auth_context.get_username()
    return bool(user == subscription["groupId"])


async def acan_access(subscription: dict[str, Any], auth_context: Any) -> bool:
    return can_access(subscription, auth_context)


def broken_access(subscription: dict[str, Any], auth_context: Any) -> bool:
    raise RuntimeError("bug in canAccess")


# Also in tests/live_settings.py (settings cannot import this module: it needs the app registry).
STREAMS = {
    "private": {"schema": {"type": "object"}, "canAccess": "tests.support.live_access.can_access"},
    "privateAsync": {"schema": {"type": "object"}, "canAccess": "tests.support.live_access.acan_access"},
    "broken": {"schema": {"type": "object"}, "canAccess": "tests.support.live_access.broken_access"},
}
