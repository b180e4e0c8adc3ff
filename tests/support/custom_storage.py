"""A custom storage for tests: items in a dict, as a user's StateStream subclass would keep them elsewhere."""

from __future__ import annotations

from typing import Any

from motia_django import StateStream


class DictStorage(StateStream):
    instances: list[DictStorage] = []

    def __init__(self) -> None:
        self.items: dict[str, dict[str, dict[str, Any]]] = {}
        DictStorage.instances.append(self)

    def get(self, group_id: str, id: str) -> dict[str, Any] | None:
        return self.items.get(group_id, {}).get(id)

    def set(self, group_id: str, id: str, data: dict[str, Any]) -> dict[str, Any]:
        self.items.setdefault(group_id, {})[id] = data
        return data

    def delete(self, group_id: str, id: str) -> dict[str, Any] | None:
        return self.items.get(group_id, {}).pop(id, None)

    def get_group(self, group_id: str) -> list[tuple[str, dict[str, Any]]]:
        return list(self.items.get(group_id, {}).items())

    def list_groups(self) -> list[str]:
        return sorted(g for g, items in self.items.items() if items)
