"""The model behind CallOpenAi: OpenAI's gpt-4o-mini when ``OPENAI_API_KEY`` is set and the ``openai`` package
is installed, else a local fake that streams ``"echo: <message>"`` word by word, ``FAKE_LLM_DELAY_MS`` (default
30) apart, so the demo works offline and tests are deterministic."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator


def use_openai() -> bool:
    if not os.environ.get("OPENAI_API_KEY"):
        return False
    try:
        import openai  # noqa: F401
    except ImportError:
        return False
    return True


async def stream_reply(message: str) -> AsyncIterator[str]:
    if use_openai():
        from openai import AsyncOpenAI

        client = AsyncOpenAI(api_key=os.environ["OPENAI_API_KEY"])
        result = await client.chat.completions.create(
            messages=[{"role": "system", "content": message}], model="gpt-4o-mini", stream=True,
        )
        async for chunk in result:
            if chunk.choices:
                yield chunk.choices[0].delta.content or ""
        return
    delay = float(os.environ.get("FAKE_LLM_DELAY_MS", "30")) / 1000
    for i, word in enumerate(f"echo: {message}".split(" ")):
        if i:
            await asyncio.sleep(delay)
        yield word if i == 0 else f" {word}"
