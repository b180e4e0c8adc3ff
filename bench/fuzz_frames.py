"""Hostile frames over a real socket: random bytes, invalid JSON, frames over the size limit, wrong types,
unknown streams, 10,000-character ids, join floods. The server must not crash, must keep serving the
socket's valid subscription, and must never send a frame of a group the socket did not join.

    .venv/bin/python bench/fuzz_frames.py --url ws://127.0.0.1:3000 --http http://127.0.0.1:3000 --frames 100000

``tests/test_hostile_frames.py`` runs the same generator against a test server, with fewer frames. A run
prints one JSON line: frames sent, frames received by kind, violations (must be empty), and seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import string
import sys
import time
import uuid
from collections import Counter
from typing import Any

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed


def _value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(9 if depth < 4 else 6)
    if kind == 0:
        return None
    if kind == 1:
        return rng.random() < 0.5
    if kind == 2:
        return rng.randint(-2**63, 2**63)
    if kind == 3:
        return rng.random() * 1e300
    if kind == 4:
        return "".join(rng.choice(string.printable) for _ in range(rng.randrange(12)))
    if kind == 5:
        return "x" * rng.choice([0, 1, 255, 256, 10_000])
    if kind in (6, 7):
        return [_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {_text(rng): _value(rng, depth + 1) for _ in range(rng.randrange(4))}


def _text(rng: random.Random) -> str:
    return "".join(rng.choice(string.ascii_letters) for _ in range(rng.randrange(1, 8)))


def hostile(rng: random.Random, own: str, limit: int) -> str | bytes:
    """One hostile frame (text, or bytes for a binary frame)."""
    kind = rng.randrange(12)
    data: dict[str, Any] = {"streamName": rng.choice(["chatMessage", "openai", "nope", "", _text(rng)]),
                            "groupId": rng.choice([own, f"other-{_text(rng)}", "", "g" * 10_000]),
                            "subscriptionId": rng.choice([str(uuid.uuid4()), "", "s" * 300])}
    if kind == 0:
        return bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 200)))  # a binary frame
    if kind == 1:
        return "".join(rng.choice(string.printable) for _ in range(rng.randrange(1, 200)))  # not JSON
    if kind == 2:
        return json.dumps(_value(rng))
    if kind == 3:
        return "x" * (limit + rng.randrange(1, 1000))  # over MAX_FRAME_BYTES
    if kind == 4:
        return "[" * 3000 + "]" * 3000
    if kind == 5:  # wrong types everywhere
        return json.dumps({"type": _value(rng), "data": {k: _value(rng) for k in data}})
    if kind == 6:
        return json.dumps({"type": "leave", "data": _value(rng)})
    if kind == 7:
        data["id"] = rng.choice([_value(rng), "i" * 10_000, "m"])
        return json.dumps({"type": "join", "data": data})
    if kind == 8:
        return json.dumps({"type": "join", "data": {**data, "streamName": f"unknown-{_text(rng)}"}})
    if kind == 9:
        return '{"type":"join","data":{"streamName":"chatMessage","groupId":"\\ud83d","subscriptionId":"s"}}'
    if kind == 10:
        return json.dumps({"type": rng.choice(["dance", "", "JOIN"]), "data": data})
    return json.dumps({"type": "join", "data": {**data, "streamName": "chatMessage"}})  # part of a join flood


async def run(url: str, http: str, frames: int, seed: int, limit: int) -> dict[str, Any]:
    rng = random.Random(seed)
    own = f"fuzz-{uuid.uuid4().hex[:8]}"
    received: Counter[str] = Counter()
    violations: list[str] = []
    joined: set[tuple[str, str]] = {("chatMessage", own)}
    start = time.perf_counter()
    async with connect(url, max_size=None, ping_interval=None) as ws:
        await ws.send(json.dumps({"type": "join", "data": {"streamName": "chatMessage", "groupId": own,
                                                           "subscriptionId": "own"}}))

        async def reader() -> None:
            async for raw in ws:
                frame = json.loads(raw)
                key = (frame["streamName"], frame["groupId"])
                event = frame["event"]
                kind = event["type"] if event["type"] != "event" else f"event:{event['event']['type']}"
                received[kind] += 1
                if event["type"] == "sync":
                    joined.add(key)
                elif kind != "event:error" and key not in joined:
                    violations.append(f"a frame of a group never joined: {raw[:200]}")

        task = asyncio.create_task(reader())
        for i in range(frames):
            await ws.send(hostile(rng, own, limit))
            if i % 500 == 0:
                await asyncio.sleep(0)
        await _write(http, own)  # the valid subscription must still get its change
        deadline = time.perf_counter() + 30
        while received["create"] < 1 and time.perf_counter() < deadline and not task.done():
            await asyncio.sleep(0.05)
        if received["create"] < 1:
            violations.append("the valid subscription got nothing after the hostile frames")
        task.cancel()
    return {"frames": frames, "seconds": round(time.perf_counter() - start, 1), "received": dict(received),
            "violations": violations[:20]}


async def _write(http: str, group: str) -> None:
    import urllib.request

    body = json.dumps({"channel_id": group, "message": "after the storm"}).encode()
    request = urllib.request.Request(f"{http}/chat-messages", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    await asyncio.get_running_loop().run_in_executor(None, lambda: urllib.request.urlopen(request, timeout=30).read())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="ws://127.0.0.1:3000")
    parser.add_argument("--http", default="http://127.0.0.1:3000")
    parser.add_argument("--frames", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--limit", type=int, default=64 * 1024, help="the server's MAX_FRAME_BYTES")
    args = parser.parse_args()
    try:
        result = asyncio.run(run(args.url, args.http, args.frames, args.seed, args.limit))
    except ConnectionClosed as exc:
        result = {"violations": [f"the server closed the socket: {exc!r}"]}
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    sys.exit(1 if result.get("violations") else 0)


if __name__ == "__main__":
    main()
