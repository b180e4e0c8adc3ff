"""Hostile frames over a real socket to a real server (bench/fuzz_frames.py, in a short form): the server
keeps the socket open and serving, and never sends a frame of a group the socket did not join.
``MOTIA_FUZZ_FRAMES`` sets how many (the long form sends 100,000)."""

from __future__ import annotations

import asyncio
import os

import pytest

from bench.fuzz_frames import run

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("seed", [1, 2])
def test_hostile_frames_never_hurt_the_socket(daphne_server, seed):
    frames = int(os.environ.get("MOTIA_FUZZ_FRAMES", "2000"))
    result = asyncio.run(run(daphne_server.ws_url, daphne_server.url, frames, seed, 64 * 1024))
    assert result["violations"] == [], result
    assert result["received"].get("event:error", 0) > 0  # the mistakes that name a stream and group were answered
    assert "Exception in ASGI application" not in daphne_server.log()
