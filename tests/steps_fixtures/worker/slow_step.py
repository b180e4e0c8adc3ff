"""Idempotent, and slow the first time: the test kills the worker while it sleeps."""

import asyncio
import os

config = {"type": "event", "name": "Slow", "subscribes": ["worker.slow"], "emits": []}


async def handler(input, context):
    key = input["key"]
    if await context.state.get("slow-started", key) is None:
        await context.state.set("slow-started", key, os.getpid())
        await asyncio.sleep(120)
    await context.state.set("slow-done", key, os.getpid())
