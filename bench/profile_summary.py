"""Summarise a py-spy ``--format raw`` profile (collapsed stacks): where the server's CPU goes.

    .venv/bin/python bench/profile_summary.py bench/results/<stamp>-profile-embedded-daphne-0.txt [--top 25]

Prints the share of samples per cost bucket (a stack counts toward the first bucket, from the leaf, whose
pattern matches; so "JSON" means time inside the json module wherever it was called from), then the functions
with the most inclusive and self time. Divide by the operations done while recording to get time per request.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

#: (bucket, regex on a frame "function (file:line)"), matched leaf-first; the first match wins.
BUCKETS: list[tuple[str, str]] = [
    ("JSON encode/decode", r"/json/|orjson"),
    ("schema validation (jsonschema/pydantic)", r"jsonschema|pydantic|motia_django/schema\.py"),
    ("database (sqlite3/psycopg/ORM)", r"sqlite3|psycopg|django/db/"),
    ("logging", r"/logging/|motia_django/logger\.py"),
    ("channel layer (channels/layers, channels_redis)", r"channels/layers|channels_redis|redis/"),
    ("DRF (rest_framework)", r"rest_framework/"),
    ("Django request/middleware/urls", r"django/(core/handlers|middleware|urls|contrib|http|utils|dispatch)"),
    ("thread hops (asgiref sync_to_async/async_to_sync)", r"asgiref/|concurrent/futures|threading\.py"),
    ("consumer (channels/consumer, motia consumer)", r"channels/(consumer|generic|utils)|motia_django/consumer"),
    ("motia_django (other)", r"motia_django/"),
    ("example steps", r"example_project/"),
    ("server: daphne/twisted/autobahn", r"daphne/|twisted/|autobahn/|txaio/"),
    ("server: uvicorn/websockets/h11/httptools", r"uvicorn/|websockets/|h11/|httptools"),
    ("asyncio event loop", r"asyncio/|uvloop"),
]


def load(path: Path) -> list[tuple[list[str], int]]:
    stacks = []
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks.append((stack.split(";"), int(count)))
    return stacks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("profiles", nargs="+", type=Path)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    compiled = [(name, re.compile(rx)) for name, rx in BUCKETS]
    for path in args.profiles:
        stacks = load(path)
        total = sum(c for _, c in stacks) or 1
        buckets: Counter[str] = Counter()
        inclusive: Counter[str] = Counter()
        self_time: Counter[str] = Counter()
        for frames, count in stacks:
            bucket = "other"
            for frame in reversed(frames):
                hit = next((name for name, rx in compiled if rx.search(frame)), None)
                if hit:
                    bucket = hit
                    break
            buckets[bucket] += count
            for frame in set(frames):
                inclusive[frame] += count
            self_time[frames[-1]] += count
        print(f"== {path} ({total} samples)\n-- buckets (leaf-first)")
        for name, n in buckets.most_common():
            print(f"{100 * n / total:6.1f}%  {name}")
        print("-- inclusive")
        for frame, n in inclusive.most_common(args.top):
            print(f"{100 * n / total:6.1f}%  {frame[:150]}")
        print("-- self")
        for frame, n in self_time.most_common(args.top):
            print(f"{100 * n / total:6.1f}%  {frame[:150]}")
        print()


if __name__ == "__main__":
    main()
