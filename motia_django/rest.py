"""What a project's own Django REST framework views can share with the API steps, so they refuse what the steps
refuse, the same way (docs/security.md, "Input"):

- ``JSONParser``: request bodies read with the package's one JSON rule (``motia_django.encoding``): no lone
  surrogates, no NaN, nesting bounded, and at most ``DATA_UPLOAD_MAX_MEMORY_SIZE`` bytes (DRF's own parser reads
  the body stream past that setting, and a body nested 10,000 deep makes it raise ``RecursionError``: a 500);
- ``exception_handler``: DRF's, plus 413 for a body too large, 400 for Django's ``SuspiciousOperation`` (a bad
  ``Host``, too many fields) and for a value the database refuses (``DataError``: a NUL byte in a query
  parameter, a number out of range), and 503 with ``Retry-After`` while the database cannot be reached.

::

    REST_FRAMEWORK = {
        "DEFAULT_PARSER_CLASSES": ["motia_django.rest.JSONParser", "rest_framework.parsers.FormParser",
                                   "rest_framework.parsers.MultiPartParser"],
        "EXCEPTION_HANDLER": "motia_django.rest.exception_handler",
    }
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.db import DataError, InterfaceError, OperationalError
from rest_framework import parsers
from rest_framework.exceptions import ParseError
from rest_framework.response import Response

from motia_django.encoding import RefusedJSON, decode

__all__ = ["RETRY_AFTER_SECONDS", "BodyParseError", "JSONParser", "exception_handler"]

logger = logging.getLogger("motia_django.api")

#: What a 503 answers in ``Retry-After`` while the database cannot be reached.
RETRY_AFTER_SECONDS = 5


class BodyParseError(ParseError):
    """A body the JSON rule refuses; ``path`` names the offending value (``""``: the document, or its syntax)."""

    def __init__(self, detail: str, path: str = "") -> None:
        super().__init__(detail)
        self.path = path


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser on the package's JSON rule (see the module docstring): a ``ParseError`` (400) for what
    breaks it, ``RequestDataTooBig`` (413) past ``DATA_UPLOAD_MAX_MEMORY_SIZE``."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        body = stream.read() if limit is None else stream.read(limit + 1)
        if limit is not None and len(body) > limit:
            raise RequestDataTooBig("Request body exceeded settings.DATA_UPLOAD_MAX_MEMORY_SIZE.")
        if not body:
            return None
        try:
            return decode(body)
        except ValueError as exc:
            path = exc.path if isinstance(exc, RefusedJSON) else ""
            raise BodyParseError(f"JSON parse error - {exc}", path) from None


def _answer(status: int, message: str, **headers: str) -> Response:
    response = Response({"error": message}, status=status)
    for name, value in headers.items():
        response[name] = value
    return response


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's exception handler, with answers for what DRF leaves to a 500 (see the module docstring)."""
    if isinstance(exc, RequestDataTooBig):
        return _answer(413, "Request body too large")
    if isinstance(exc, SuspiciousOperation):
        logger.info("Refused a request: %s", exc)
        return _answer(400, "Bad Request")
    if isinstance(exc, DataError):
        logger.info("Refused a request: the database refused a value: %s", exc)
        return _answer(400, "Bad Request: a value the database cannot store or compare")
    if isinstance(exc, OperationalError | InterfaceError):
        logger.warning("The database cannot be reached; answering 503", exc_info=exc)
        return _answer(503, "Service Unavailable: the database cannot be reached", **{
            "Retry-After": str(RETRY_AFTER_SECONDS)})
    # Imported here: rest_framework.views reads api_settings, and the EXCEPTION_HANDLER they name is this module.
    from rest_framework import views as drf_views

    return drf_views.exception_handler(exc, context)
