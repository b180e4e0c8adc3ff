"""How many Redis commands one broadcast costs, per channel layer, for N subscribers on P server processes.

    .venv/bin/python -m bench.fanout [redis://127.0.0.1:6379/14]

Each "process" is one layer instance (its own connection and process-specific channel prefix), as each Daphne
process has. N consumer channels join the group of one (stream, group) spread over the processes, then one
change is broadcast and received by all of them. Redis MONITOR counts the commands run for it on the chosen
database (commands a Lua script runs included). Results are in docs/realtime.md.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections import Counter
from typing import Any

import redis

BACKENDS = {
    "pubsub": "channels_redis.pubsub.RedisPubSubChannelLayer",
    "core": "channels_redis.core.RedisChannelLayer",
}


def make_layer(backend: str, url: str) -> Any:
    from django.utils.module_loading import import_string

    return import_string(BACKENDS[backend])(hosts=[url])


class Monitor:
    """Counts commands on one Redis database while it runs (MONITOR sees commands from Lua scripts too)."""

    def __init__(self, url: str) -> None:
        self.client = redis.Redis.from_url(url)
        self.db = int(self.client.connection_pool.connection_kwargs.get("db", 0))
        self.counts: Counter[str] = Counter()
        self.active = False
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self._ready.wait(5)

    def _run(self) -> None:
        with self.client.monitor() as monitor:
            self._ready.set()
            for command in monitor.listen():
                if command.get("db") == self.db and self.active:
                    name = str(command["command"]).split(" ", 1)[0].strip('"').upper()
                    self.counts[name] += 1


async def measure(backend: str, url: str, subscribers: int, processes: int, monitor: Monitor) -> Counter[str]:
    layers = [make_layer(backend, url) for _ in range(processes)]
    channels = []
    group = "motia.bench"
    for i in range(subscribers):
        layer = layers[i % processes]
        channel = await layer.new_channel()
        await layer.group_add(group, channel)
        channels.append((layer, channel))
    # warm up connections and subscriptions, then count one change
    await layers[0].group_send(group, {"type": "motia.change", "text": "warm"})
    await asyncio.gather(*(lay.receive(ch) for lay, ch in channels))
    await asyncio.sleep(0.3)
    monitor.counts.clear()
    monitor.active = True
    await layers[0].group_send(group, {"type": "motia.change", "text": "{}" * 100})
    await asyncio.gather(*(lay.receive(ch) for lay, ch in channels))
    await asyncio.sleep(0.3)  # let MONITOR report the last commands
    monitor.active = False
    counts = Counter(monitor.counts)
    for layer, channel in channels:
        await layer.group_discard(group, channel)
    for layer in layers:
        await layer.flush()
    return counts


def main() -> None:
    import django
    from django.conf import settings

    settings.configure()
    django.setup()
    url = sys.argv[1] if len(sys.argv) > 1 else "redis://127.0.0.1:6379/14"
    monitor = Monitor(url)
    print(f"{'layer':8} {'N':>4} {'P':>2}  commands  by command")
    for backend in BACKENDS:
        for processes, subscribers in [(1, 1), (1, 10), (1, 100), (2, 100)]:
            counts = asyncio.run(measure(backend, url, subscribers, processes, monitor))
            detail = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
            print(f"{backend:8} {subscribers:>4} {processes:>2}  {sum(counts.values()):>8}  {detail}")


if __name__ == "__main__":
    main()
