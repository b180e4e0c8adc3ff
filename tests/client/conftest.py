"""Fixtures of the motia_django.client tests: ``fake``, the fake server every ``StreamClient`` connects to."""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest

from motia_django.client import connection as client_module
from tests.client.helpers import FakeServer


@pytest.fixture
def fake() -> Any:
    server = FakeServer()
    with mock.patch.object(client_module, "ws_connect", server.connect):
        yield server
