"""Who may connect and who may subscribe.

Connection: a token (the ``Authorization`` subprotocol pair or ``?authToken=``) and the Django session user
(read by ``motia_django.routing.StreamsApplication``) are handed to the ``AUTHENTICATE`` hook, which returns an
auth context (anything; None means anonymous). Raising refuses the upgrade: ``PermissionDenied`` with 403,
``AuthenticationRefused`` or anything else with 401 (Daphne can only answer 403). Without a hook, the auth
context is the session user when logged in.

The session is trusted only when the request has no ``Origin`` header (non-browser clients) or the Origin is
the server's own host or listed in ``CSRF_TRUSTED_ORIGINS``: a page on another site cannot ride a user's cookie
(cross-site WebSocket hijacking). Tokens work from any origin.

Who may join what is decided per join, by ``motia_django.realtime.joins``.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlparse

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, PermissionDenied

from motia_django.bridge import call_hook
from motia_django.conf import motia_settings
from motia_django.exceptions import AuthenticationRefused

if TYPE_CHECKING:
    pass

__all__ = [
    "AUTH_SUBPROTOCOL",
    "AuthenticationRefused",
    "Refused",
    "authenticate",
    "authorize_connection",
    "connection_caps",
    "is_authenticated",
    "offered_token",
    "session_user",
    "trusted_origin",
    "user_key",
]

logger = logging.getLogger("motia_django.consumer")

#: The subprotocol Motia's clients offer, followed by the token: ``['Authorization', '<token>']``.
AUTH_SUBPROTOCOL = "Authorization"


def __getattr__(name: str) -> Any:
    if name == "AuthenticationFailed":  # its old name, which DRF uses too
        warnings.warn("motia_django.realtime.auth.AuthenticationFailed is now motia_django.AuthenticationRefused",
                      DeprecationWarning, stacklevel=2)
        return AuthenticationRefused
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def offered_token(scope: dict[str, Any]) -> tuple[str | None, str | None]:
    """The token and the subprotocol to accept with: ``(token, subprotocol)``, each possibly None.

    When any subprotocol is offered one must be accepted, or clients abort (docs/protocol.md, "Connecting").
    """
    offered = [str(p) for p in scope.get("subprotocols") or []]
    token: str | None = None
    accept: str | None = offered[0] if offered else None
    if AUTH_SUBPROTOCOL in offered:
        accept = AUTH_SUBPROTOCOL
        index = offered.index(AUTH_SUBPROTOCOL)
        if index + 1 < len(offered):
            token = offered[index + 1]
    if token is None:
        query = parse_qs((scope.get("query_string") or b"").decode("latin-1"))
        values = query.get("authToken")
        if values and values[0]:
            token = values[0]
    return token, accept


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers") or []:
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


def trusted_origin(scope: dict[str, Any]) -> bool:
    """True when no browser page of another site opened this socket (see module docstring)."""
    origin = _header(scope, b"origin")
    if origin is None:
        return True
    if origin in getattr(settings, "CSRF_TRUSTED_ORIGINS", []):
        return True
    host = _header(scope, b"host")
    parsed = urlparse(origin)
    return bool(host) and parsed.netloc.lower() == (host or "").lower()


async def session_user(scope: dict[str, Any]) -> Any:
    """The logged-in user of the session when the origin is trusted, else ``AnonymousUser``."""
    from django.contrib.auth.models import AnonymousUser

    user = scope.get("user")
    if user is None or type(user) is AnonymousUser or not trusted_origin(scope):  # type(): not the lazy user
        return AnonymousUser()

    def resolve() -> Any:  # the session and user are loaded lazily, from the database
        return user if user.is_authenticated else AnonymousUser()

    return await call_hook(resolve)


async def authenticate(scope: dict[str, Any], token: str | None) -> Any:
    """The connection's auth context (None: anonymous); raises to refuse the connection.

    ``scope["user"]`` is already the trusted session user (``session_user``) when the consumer calls this.
    """
    hook = motia_settings.AUTHENTICATE
    if hook is None:
        user = scope.get("user")
        return user if user is not None and user.is_authenticated else None
    if not callable(hook):
        raise ImproperlyConfigured("MOTIA['AUTHENTICATE'] must be a callable or a dotted path to one")
    return await call_hook(hook, token, scope)


@dataclass(frozen=True, slots=True)
class Refused:
    """A connection refused at the handshake, with the HTTP status to answer."""

    status: int


async def authorize_connection(scope: dict[str, Any]) -> tuple[Any, str | None] | Refused:
    """Who is connecting: ``(auth_context, subprotocol to accept)``, or ``Refused(401 or 403)``. Sets
    ``scope["user"]`` to the trusted session user first."""
    token, subprotocol = offered_token(scope)
    scope["user"] = await session_user(scope)
    try:
        return await authenticate(scope, token), subprotocol
    except PermissionDenied:
        return Refused(403)
    except AuthenticationRefused as exc:
        logger.info("WebSocket connection refused by the authenticate hook: %r", exc)
    except Exception:
        logger.warning("The authenticate hook raised; WebSocket connection refused", exc_info=True)
    return Refused(401)


def user_key(auth_context: Any) -> str | None:
    """Who the auth context is, as a string: the user's primary key, or a token context's ``user_id`` (also
    ``userId``, ``user``, ``id``); None for an anonymous socket."""
    if auth_context is not None and getattr(auth_context, "is_authenticated", False):
        return str(auth_context.pk)
    if isinstance(auth_context, dict):
        for key in ("user_id", "userId", "user", "id"):
            if auth_context.get(key) not in (None, ""):
                return str(auth_context[key])
    return None


def connection_caps(scope: dict[str, Any], auth_context: Any) -> list[tuple[Any, int | None]]:
    """The keys a socket counts under for ``MAX_CONNECTIONS_PER_USER`` / ``MAX_CONNECTIONS_PER_IP``, with their
    caps (none when the caps are off). The IP is the ASGI scope's client: behind a proxy, run the server with its
    proxy-headers option so that it is the client's."""
    caps: list[tuple[Any, int | None]] = []
    per_user, per_ip = motia_settings.MAX_CONNECTIONS_PER_USER, motia_settings.MAX_CONNECTIONS_PER_IP
    user = user_key(auth_context) if per_user is not None else None
    if user is not None:
        caps.append((("user", user), per_user))
    client = scope.get("client")
    if per_ip is not None and client:
        caps.append((("ip", str(client[0])), per_ip))
    return caps


def is_authenticated(auth_context: Any) -> bool:
    if auth_context is None:
        return False
    return bool(getattr(auth_context, "is_authenticated", True))
