"""Reachability of the real PostgreSQL and Redis, and the skip-or-fail policy (``MOTIA_REQUIRE_SERVICES``)."""

from __future__ import annotations

import os
import socket
from urllib.parse import urlparse

import pytest

REQUIRED = os.environ.get("MOTIA_REQUIRE_SERVICES") == "1"


def _tcp(url: str, default_port: int) -> str | None:
    parsed = urlparse(url)
    host, port = parsed.hostname or "127.0.0.1", parsed.port or default_port
    try:
        with socket.create_connection((host, port), timeout=2):
            return None
    except OSError as exc:
        return f"{host}:{port} is not reachable ({exc})"


def postgres_unavailable(url: str | None = None) -> str | None:
    if url is None:
        from django.conf import settings

        db = settings.DATABASES["default"]
        url = f"postgres://{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/"
    reason = _tcp(url, 5432)
    return f"PostgreSQL {reason}" if reason else None


def redis_unavailable(url: str) -> str | None:
    reason = _tcp(url, 6379)
    return f"Redis {reason}" if reason else None


def skip_or_fail(reason: str) -> None:
    if REQUIRED:
        pytest.fail(f"{reason}, and MOTIA_REQUIRE_SERVICES=1 requires it", pytrace=False)
    pytest.skip(reason)


def skip_or_fail_all(items: list[pytest.Item], reason: str) -> None:
    if REQUIRED:
        raise pytest.UsageError(f"{reason}, and MOTIA_REQUIRE_SERVICES=1 requires it")
    for item in items:
        item.add_marker(pytest.mark.skip(reason=reason))
