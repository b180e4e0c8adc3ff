"""Stream writes from async code: group commit, pipelining inside steps, and coalescing of one item's writes.

An awaited write (``await streams.chatMessage.set(...)``) is validated on the loop and queued on its database's
``Writer``. The writer runs in a database thread and commits every write waiting at that moment in one
transaction (group commit), each still with its own result, its own error and its own broadcast after the
commit. So concurrent writes share a commit instead of queueing for one each (SQLite takes one writer at a
time).

Inside a step (``write_scope()``: the async API step views and the event runner open one) a ``set`` or ``send``
does not wait for its commit: the step goes on while the writer works, and the scope waits for all of them
when the step ends (an API step answers only then; a failed write fails the step). Any other database call of
the step (a read, ``emit``, ``context.state``) first waits for the step's earlier writes, so a step reads its
own writes and an event it emits never runs before them.

Coalescing: a ``set`` of an item whose earlier ``set`` is still queued (not yet running) replaces that queued
state: an intermediate state is skipped only when a newer one supersedes it, and the last state is always
written and broadcast. A token stream (200 writes of a growing text) costs a few commits, not 200.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import weakref
from collections import deque
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from django.db import transaction

from motia_django.bridge import barrier, db_call

__all__ = ["Write", "WriteScope", "Writer", "submit", "write_scope"]

logger = logging.getLogger("motia_django.stream")

ItemKey = tuple[str, str, str]


class Write:
    """One queued write: ``run()`` does it in the database thread (inside the batch's transaction), in the
    context it was queued from (a batch holds writes of several steps: each keeps its own trace and span)."""

    __slots__ = ("coalesce", "context", "future", "key", "run")

    def __init__(self, run: Callable[[], Any], key: ItemKey | None = None, *, coalesce: bool = False) -> None:
        self.run, self.key, self.coalesce = run, key, coalesce
        self.context = contextvars.copy_context()
        self.future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    def __call__(self) -> Any:
        return self.context.run(self.run)


class Writer:
    """The write queue of one database: one batch at a time, in order."""

    def __init__(self, alias: str) -> None:
        self.alias = alias
        self.queue: deque[Write] = deque()
        self.queued: dict[ItemKey, Write] = {}  # the last queued write per item, while it may still be replaced
        self.busy = False

    def submit(self, write: Write) -> asyncio.Future[Any]:
        """Queue ``write`` (on the loop); returns the future of the write that will carry it."""
        if write.key is not None:
            earlier = self.queued.get(write.key)
            if earlier is not None and earlier.coalesce and write.coalesce:
                earlier.run, earlier.context = write.run, write.context  # the newer state supersedes the queued one
                return earlier.future
            self.queued[write.key] = write
        self.queue.append(write)
        if not self.busy:
            self._start()
        return write.future

    def _start(self) -> None:
        batch = list(self.queue)
        self.queue.clear()
        self.queued.clear()
        self.busy = True
        done = db_call(self._run, batch)
        done.add_done_callback(lambda future: self._finish(batch, future))

    def _run(self, batch: list[Write]) -> list[tuple[bool, Any]]:
        """In the database thread: all of ``batch`` in one transaction; if that transaction did not commit, each
        on its own. A batch that committed is never run again, whatever raises after its commit: its writes
        would be applied twice (an ``increment`` counted twice). Its on-commit hooks all run, each failing
        alone, so every write's broadcast is sent."""
        if len(batch) == 1:  # one write needs no transaction of its own: its statement is atomic
            return [(True, batch[0]())]
        committed: list[bool] = []
        results: list[Any] = []
        try:
            with transaction.atomic(using=self.alias):
                connection = transaction.get_connection(self.alias)
                first = len(connection.run_on_commit)
                transaction.on_commit(lambda: committed.append(True), using=self.alias)  # the first hook to run
                results = [write() for write in batch]
                _robust_hooks(connection, first)
        except Exception:
            if committed:  # a later on-commit hook raised: the writes are in
                logger.exception("An on-commit hook of a write batch raised; the batch is committed")
                return [(True, result) for result in results]
        else:
            return [(True, result) for result in results]
        outcomes: list[tuple[bool, Any]] = []
        for write in batch:  # one outcome each, also when a hook of a write that committed fails
            try:
                with transaction.atomic(using=self.alias):
                    connection = transaction.get_connection(self.alias)
                    first = len(connection.run_on_commit)
                    result = write()
                    _robust_hooks(connection, first)
            except Exception as exc:
                outcomes.append((False, exc))
            else:
                outcomes.append((True, result))
        return outcomes

    def _finish(self, batch: list[Write], done: asyncio.Future[list[tuple[bool, Any]]]) -> None:
        self.busy = False
        try:
            outcomes = done.result()
        except BaseException as exc:  # the single write of the batch failed
            outcomes = [(False, exc)] * len(batch)
        for write, (ok, value) in zip(batch, outcomes, strict=True):
            if write.future.done():
                continue
            if ok:
                write.future.set_result(value)
            else:
                write.future.set_exception(value)
        if self.queue:
            self._start()


def _robust_hooks(connection: Any, first: int) -> None:
    """Make the on-commit hooks registered since index ``first`` robust (a failure is logged, the next hook runs).
    Django stops at the first hook that raises and drops the rest: one write's failing hook (a project's receiver
    of a model-backed stream, say) would drop the other writes' broadcasts, though they all committed."""
    hooks = connection.run_on_commit
    hooks[first:] = [(savepoints, hook, True) for savepoints, hook, *_ in hooks[first:]]


#: Each event loop's write queues, by database: a queue's futures belong to the loop that made them, and the
#: server's loop and the embedded runner's (another thread) write at the same time.
_writers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, Writer]] = weakref.WeakKeyDictionary()


def writer(alias: str) -> Writer:
    """The write queue of database ``alias`` for the running loop."""
    loop = asyncio.get_running_loop()
    mine = _writers.get(loop)
    if mine is None:
        mine = _writers[loop] = {}
    found = mine.get(alias)
    if found is None:
        found = mine[alias] = Writer(alias)
    return found


class WriteScope:
    """The writes a step has queued and not yet seen committed."""

    def __init__(self) -> None:
        self.pending: list[asyncio.Future[Any]] = []

    def add(self, future: asyncio.Future[Any]) -> None:
        self.pending.append(future)

    async def flush(self) -> None:
        """Wait until every write queued so far is committed; raise the first that failed."""
        while self.pending:
            pending, self.pending = self.pending, []
            results = await asyncio.gather(*pending, return_exceptions=True)
            for result in results:
                if isinstance(result, BaseException):
                    self.pending.clear()
                    raise result


_scope: ContextVar[WriteScope | None] = ContextVar("motia_write_scope", default=None)


class write_scope:
    """Pipeline the stream writes made inside (a step's body); on exit, wait for all of them. A class rather than
    an ``asynccontextmanager``: it is entered once per API request, and a generator costs more to drive."""

    __slots__ = ("scope", "tokens")

    async def __aenter__(self) -> WriteScope:
        self.scope = scope = WriteScope()
        self.tokens = _scope.set(scope), barrier.set(scope.flush)
        return scope

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        try:
            if kind is None:
                await self.scope.flush()
        finally:
            scope_token, barrier_token = self.tokens
            barrier.reset(barrier_token)
            _scope.reset(scope_token)


async def submit(alias: str, write: Write, *, wait: bool = True) -> Any:
    """Queue ``write`` on the database ``alias``. Outside a step scope, or with ``wait``, wait for its commit and
    return its result; inside a scope with ``wait=False``, return None at once (the scope waits for it)."""
    future = writer(alias).submit(write)
    scope = _scope.get()
    if scope is not None and not wait:
        scope.add(future)
        return None
    if scope is not None:
        await scope.flush()  # earlier pipelined writes first: their errors belong to them
    return await asyncio.shield(future)
