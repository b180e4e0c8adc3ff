"""``manage.py streams``: look at streams and change them from a terminal or a script.

::

    manage.py streams list [--json]                      # streams with their group and item counts
    manage.py streams groups STREAM [--json]             # a stream's groups
    manage.py streams get STREAM GROUP [ID] [--json]     # an item, or a group's items
    manage.py streams set STREAM GROUP ID JSON|-         # validated against the schema, then broadcast
    manage.py streams delete STREAM GROUP ID
    manage.py streams send STREAM GROUP TYPE [JSON|-] [--id ID]   # an ephemeral event
    manage.py streams tail STREAM GROUP [ID] [--url ws://...] [--count N]   # live changes, one JSON line each
    manage.py streams types                              # TypeScript declarations of the items

Writes go through the stream API, like any other write: validated, stamped and broadcast after commit. A
mistake (an unknown stream, bad JSON, data the schema refuses) is a clear message and a non-zero exit, and
nothing is written. ``tail`` is a WebSocket client of a running server (``motia_django.client``), so it shows
exactly what a browser sees.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import TYPE_CHECKING, Any, TextIO

from channels.layers import get_channel_layer
from django.core.management import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError

from motia_django.conf import motia_settings
from motia_django.exceptions import StreamClientError, StreamNotFound, StreamValidationError
from motia_django.layers import is_local_layer
from motia_django.stream.api import Stream
from motia_django.stream.registry import registry
from motia_django.typescript import declarations

if TYPE_CHECKING:
    from motia_django.client import Notification, StreamClient

DEFAULT_URL = "ws://127.0.0.1:3000"


def _dumps(value: Any, *, pretty: bool = False) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2 if pretty else None, default=str)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


class Command(BaseCommand):
    help = "Look at and change streams: list, groups, get, set, delete, send, tail, types."
    # A stream with a definition error is left out of the registry; the command must still run to look at the
    # others (``list`` names the problems), so the system checks do not stop it.
    requires_system_checks: list[str] = []
    stealth_options = ("stdin",)

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

        def add(name: str, help: str) -> CommandParser:
            sub: CommandParser = actions.add_parser(name, help=help, description=help)
            return sub

        def keys(sub: CommandParser, *, id: str | None) -> None:
            sub.add_argument("stream", help="Stream name, e.g. chatMessage.")
            sub.add_argument("group", help="Group id.")
            if id == "required":
                sub.add_argument("id", help="Item id.")
            elif id == "optional":
                sub.add_argument("id", nargs="?", help="Item id (omit for the whole group).")

        def json_flag(sub: CommandParser) -> None:
            sub.add_argument("--json", action="store_true", help="Print JSON, for scripts.")

        json_flag(add("list", "Streams, with how many groups and items each holds."))
        sub = add("groups", "A stream's groups, with how many items each holds.")
        sub.add_argument("stream", help="Stream name.")
        json_flag(sub)
        sub = add("get", "An item, or a group's items in creation order.")
        keys(sub, id="optional")
        json_flag(sub)
        sub = add("set", "Create or replace an item (validated against the schema, then broadcast).")
        keys(sub, id="required")
        sub.add_argument("data", metavar="JSON", help="The item's data as a JSON object, or - to read stdin.")
        sub = add("delete", "Delete an item (broadcast to subscribers).")
        keys(sub, id="required")
        sub = add("send", "Send an ephemeral event to a group's (or, with --id, an item's) subscribers.")
        keys(sub, id=None)
        sub.add_argument("type", help="Event type, e.g. typing.")
        sub.add_argument("data", metavar="JSON", nargs="?", default="{}",
                         help="Event data as JSON, or - to read stdin (default {}).")
        sub.add_argument("--id", dest="item", default=None, help="Send to this item's subscribers.")
        sub = add("tail", "Print live changes of a group or item from a running server, one JSON line each.")
        keys(sub, id="optional")
        sub.add_argument("--url", default=DEFAULT_URL, help=f"The server's stream WebSocket (default {DEFAULT_URL}).")
        sub.add_argument("--token", default=None, help="Auth token, offered as Motia's clients offer it.")
        sub.add_argument("--count", type=int, default=None,
                         help="Exit after N lines (the first is the sync of the current state).")
        add("types", "TypeScript declarations of every stream's items, for useStreamItem<T>/useStreamGroup<T>.")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        try:
            getattr(self, f"do_{action}")(options)
        except StreamNotFound as exc:
            raise CommandError(str(exc)) from None
        except StreamValidationError as exc:
            raise CommandError(self._invalid(exc)) from None
        except DatabaseError as exc:
            raise CommandError(f"The database refused the command: {str(exc).strip()}. Is it reachable, and has "
                               "manage.py migrate run?") from None

    # --- helpers --------------------------------------------------------------------------------------------

    def _stream(self, name: str) -> Stream:
        return registry.get(name)

    def _print(self, text: str) -> None:
        self.stdout.write(text)

    @staticmethod
    def _invalid(exc: StreamValidationError) -> str:
        if len(exc.errors) <= 1:
            return f"Nothing was written: {exc}"
        lines = "\n".join(f"  {e['path'] or '(item)'}: {e['message']}" for e in exc.errors)
        return f"Nothing was written: {exc.stream + ': ' if exc.stream else ''}the data does not match the schema:\n" \
               f"{lines}"

    def _json_argument(self, text: str, options: dict[str, Any], what: str) -> Any:
        if text == "-":
            stdin: TextIO = options.get("stdin") or sys.stdin
            text = stdin.read()
        try:
            return json.loads(text)
        except ValueError as exc:
            raise CommandError(f"{what} is not valid JSON ({exc}); nothing was written. Quote it for the shell: "
                               "'{\"message\": \"hi\"}'") from None

    def _note_local_layer(self, *, event: bool = False) -> None:
        """A write here reaches a running server's sockets only over a channel layer both share (Redis)."""
        try:
            layer = get_channel_layer(motia_settings.CHANNEL_LAYER)
        except Exception:
            return
        if layer is not None and is_local_layer(layer):
            seen = ("no running server receives this event" if event else
                    "clients of a running server see this write at their next sync, not live")
            self.stderr.write(f"Note: the channel layer is in-memory, so {seen}. Set REDIS_URL (channels-redis) to "
                              "broadcast across processes.", style_func=self.style.WARNING)

    @staticmethod
    def _counts(stream: Stream) -> tuple[int | None, int | None, dict[str, int] | None]:
        """(groups, items, items per group) of a stream; None where its storage cannot tell."""
        try:
            per_group = stream.backend.group_sizes(stream.name)
        except NotImplementedError:
            return None, None, None
        return len(per_group), sum(per_group.values()), per_group

    # --- reads ----------------------------------------------------------------------------------------------

    def do_list(self, options: dict[str, Any]) -> None:
        rows = []
        for name in registry.names():
            stream = registry.get(name)
            groups, items, _ = self._counts(stream)
            rows.append({"stream": name, "storage": stream.backend.kind, "groups": groups, "items": items})
        for error in registry.errors:
            self.stderr.write(f"Not registered: {error.msg} ({error.id}); run manage.py check",
                              style_func=self.style.WARNING)
        if options["json"]:
            self._print(_dumps(rows))
            return
        if not rows:
            self._print("No streams are registered: add *_stream.py modules to the steps folders, or STREAMS "
                        "to settings.")
            return
        table = [("stream", "storage", "groups", "items")] + [
            (str(r["stream"]), str(r["storage"]), "-" if r["groups"] is None else str(r["groups"]),
             "-" if r["items"] is None else str(r["items"])) for r in rows
        ]
        widths = [max(len(row[i]) for row in table) for i in range(4)]
        for row in table:
            self._print(f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:>{widths[2]}}  {row[3]:>{widths[3]}}")

    def do_groups(self, options: dict[str, Any]) -> None:
        stream = self._stream(options["stream"])
        _, _, per_group = self._counts(stream)
        if per_group is None:
            raise CommandError(f"Stream {stream.name!r} has custom storage whose StateStream does not implement "
                               "list_groups(), so its groups cannot be listed.")
        if options["json"]:
            self._print(_dumps([{"groupId": g, "items": n} for g, n in per_group.items()]))
        elif not per_group:
            self._print(f"Stream {stream.name!r} has no groups yet.")
        else:
            width = max(len(g) for g in per_group)
            for group, n in per_group.items():
                self._print(f"{group:<{width}}  {_plural(n, 'item')}")

    def do_get(self, options: dict[str, Any]) -> None:
        stream, group, id = self._stream(options["stream"]), options["group"], options["id"]
        if id is None:
            items: Any = stream.get_group(group)
            if not items and not options["json"]:
                self._print(f"No items in {stream.name}/{group}.")
                return
        else:
            items = stream.get(group, id)
            if items is None:
                raise CommandError(f"No item {id!r} in {stream.name}/{group}.")
        self._print(_dumps(items, pretty=not options["json"]))

    # --- writes ---------------------------------------------------------------------------------------------

    def do_set(self, options: dict[str, Any]) -> None:
        stream = self._stream(options["stream"])
        data = self._json_argument(options["data"], options, "The data")
        if not isinstance(data, dict):
            raise CommandError(f"The data must be a JSON object ({{...}}), got {type(data).__name__}; nothing was "
                               "written.")
        item = stream.set(options["group"], options["id"], data)
        item.pop("__motia", None)
        self._print(f"Set {stream.name}/{options['group']}/{options['id']}: {_dumps(item)}")
        self._note_local_layer()

    def do_delete(self, options: dict[str, Any]) -> None:
        stream, group, id = self._stream(options["stream"]), options["group"], options["id"]
        if stream.delete(group, id) is None:
            raise CommandError(f"No item {id!r} in {stream.name}/{group}; nothing was deleted.")
        self._print(f"Deleted {stream.name}/{group}/{id}.")
        self._note_local_layer()

    def do_send(self, options: dict[str, Any]) -> None:
        stream, group, item = self._stream(options["stream"]), options["group"], options["item"]
        data = self._json_argument(options["data"], options, "The event data")
        channel = {"groupId": group, **({"id": item} if item is not None else {})}
        stream.send(channel, {"type": options["type"], "data": data})
        self._print(f"Sent {options['type']!r} to {stream.name}/{group}{'/' + item if item else ''}.")
        self._note_local_layer(event=True)

    # --- a live client --------------------------------------------------------------------------------------

    def do_tail(self, options: dict[str, Any]) -> None:
        count = options["count"]
        if count is not None and count < 1:
            raise CommandError("--count must be at least 1.")
        try:  # the Python stream client: the 'client' extra
            import motia_django.client  # noqa: F401
        except ImportError as exc:
            raise CommandError(f"tail: {exc}") from None
        try:
            asyncio.run(self._tail(options["url"], options["token"], options["stream"], options["group"],
                                   options["id"], count))
        except KeyboardInterrupt:
            return
        except StreamClientError as exc:
            raise CommandError(str(exc)) from None

    async def _tail(self, url: str, token: str | None, stream: str, group: str, id: str | None,
                    count: int | None) -> None:
        from motia_django.client import StreamClient

        def reconnected(client: StreamClient) -> None:
            self.stderr.write(f"Reconnected to {client.url}; the next line is a fresh sync.",
                              style_func=self.style.NOTICE)

        async with StreamClient(url, token, on_reconnect=reconnected) as client:
            subscription = client.item(stream, group, id) if id is not None else client.group(stream, group)
            await subscription.ready()
            printed = 0
            change: Notification
            async for change in subscription:
                self._print(_dumps(change.as_dict()))
                self.stdout.flush()
                printed += 1
                if count is not None and printed >= count:
                    return

    # --- TypeScript -----------------------------------------------------------------------------------------

    def do_types(self, options: dict[str, Any]) -> None:
        self.stdout.write(declarations((name, registry.get(name).schema.describe()) for name in registry.names()),
                          ending="")
