"""The step registry: the project's ``*_step.py`` modules, loaded at app start.

``step_registry.load()`` runs in ``AppConfig.ready()`` beside the stream registry. A step whose config is wrong
is left out and its problem kept as a system check message naming the file (``step_registry.errors``, ids
``motia_django.E1xx`` / ``W1xx``), so ``manage.py check`` and the server's start-up say what to change.

Interface (read by the API views, the worker, the OpenAPI schema and the workbench pages):

- ``step_registry.steps``: every valid ``Step``, in file order; ``.api_steps``, ``.event_steps`` and
  ``.cron_steps`` filter it;
  ``.get(name)`` returns one (``KeyError`` if absent); ``.subscribers(topic)`` the event steps of a topic;
  ``.stream_triggers(stream)`` the (step, trigger) pairs watching a stream (``motia_django.steps.triggers``);
  ``.errors`` the check messages; ``.load()`` rebuilds everything in one swap.
- ``Step``: one step (``motia_django.steps.config``).
"""

from __future__ import annotations

import functools

from django.core import checks

from motia_django.loading import Registry, iter_configs
from motia_django.steps.config import Step, build_step
from motia_django.steps.triggers import StreamTrigger
from motia_django.stream.changes import record_changes_of

__all__ = ["StepRegistry", "step_registry"]


class StepRegistry(Registry[Step]):
    """All valid steps, and the problems found while loading them (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__()
        self._by_topic: dict[str, list[Step]] = {}
        self._by_stream: dict[str, list[tuple[Step, StreamTrigger]]] = {}

    def collect(self, found: dict[str, Step], errors: list[checks.CheckMessage]) -> None:
        routes: dict[tuple[str, str], Step] = {}
        for origin, module in iter_configs(
            "_step", "step", errors,
            import_error=("motia_django.E100", "Fix the error above; this step is not registered until then."),
            no_config=("motia_django.E101", 'Define config = {"type": ..., "name": ...} and a handler.'),
        ):
            make = functools.partial(build_step, module.config, getattr(module, "handler", None), origin)
            step = self.build(make, origin, errors)
            if step is None or not self.unique(found, step, errors):
                continue
            if step.type == "api":
                key = (step.method, step.shape)
                if key in routes:
                    errors.append(checks.Error(
                        f"{origin}: {step.method} {step.path} is already served by step {routes[key].name!r} "
                        f"({routes[key].origin})",
                        hint="Give one of the steps another method or path.", id="motia_django.E110"))
                    continue
                routes[key] = step
            found[step.name] = step

    def duplicate(self, item: Step, other: Step) -> checks.CheckMessage:
        return checks.Error(f"{item.origin}: step name {item.name!r} is already used by {other.origin}",
                            hint="Step names must be unique: rename one of them.", id="motia_django.E109")

    def finish(self, found: dict[str, Step], errors: list[checks.CheckMessage]) -> None:
        steps = list(found.values())
        emitted = {t for s in steps for t in (*s.emits, *s.virtual_emits)}
        by_topic: dict[str, list[Step]] = {}
        for step in steps:
            for topic in step.subscribes:
                by_topic.setdefault(topic, []).append(step)
                if topic not in emitted:
                    errors.append(checks.Warning(
                        f"{step.origin}: step {step.name!r} subscribes to {topic!r}, which no step emits",
                        hint=f"Add {topic!r} to some step's emits (plain code may still emit() it).",
                        id="motia_django.W101"))
        self._by_topic = by_topic
        self._by_stream = {}
        for step in steps:
            for trigger in step.triggers:
                self._by_stream.setdefault(trigger.stream, []).append((step, trigger))
        record_changes_of(set(self._by_stream))

    @property
    def steps(self) -> list[Step]:
        return list(self._ensure().values())

    @property
    def api_steps(self) -> list[Step]:
        return [s for s in self.steps if s.type == "api"]

    @property
    def event_steps(self) -> list[Step]:
        return [s for s in self.steps if s.type == "event"]

    @property
    def cron_steps(self) -> list[Step]:
        return [s for s in self.steps if s.type == "cron"]

    def cron_step(self, name: str) -> Step:
        """The cron step ``name``; ``KeyError`` if there is none, or it is a step of another type."""
        step = self.get(name)
        if step.type != "cron":
            raise KeyError(f"{name!r} is a {step.type} step, not a cron step")
        return step

    def subscribers(self, topic: str) -> list[Step]:
        self._ensure()
        return list(self._by_topic.get(topic, []))

    def stream_triggers(self, stream: str) -> list[tuple[Step, StreamTrigger]]:
        """The (step, trigger) pairs watching ``stream``."""
        self._ensure()
        return list(self._by_stream.get(stream, []))


step_registry = StepRegistry()
