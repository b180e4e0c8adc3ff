"""The code blocks of the README and of ``docs/``, for the tests that run them (``tests/test_docs.py``,
``tests/test_typed_api.py``).

A fenced block (```` ```python ````, also indented inside a list item) may be preceded by HTML comments, one per
line, that say how it is run:

- ``<!-- fragment: why -->``: part of a user's project (its imports or bodies left out, or it needs a running
  server): compiled, and the names it takes from motia_django checked, but not executed. A block whose first line
  names a project's ``settings.py``, ``urls.py`` or ``asgi.py`` (``# urls.py``, ``# myproject/asgi.py``) is a
  fragment too.
- ``<!-- typed -->``: also passes ``mypy --strict`` as a user's project would check it.
- ``<!-- pytest -->``: a test module of a user's project, run by pytest against the example project.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

#: The pages whose examples are run: the README and every page of the docs site.
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]

_FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<lang>[\w+-]*)[^\n]*\n(?P<body>.*?)^(?P=indent)```[ \t]*$",
                    flags=re.M | re.S)
_MARKER = re.compile(r"^[ \t]*<!--\s*(?P<name>[\w-]+)\s*(?::\s*(?P<why>.*?))?\s*-->[ \t]*$")
_PROJECT_FILE = re.compile(r"^# (?:[\w./-]+/)?(?:settings|urls|asgi)\.py\b")


@dataclass(frozen=True)
class Block:
    page: Path
    line: int  # of the opening fence, 1-based
    lang: str
    code: str
    markers: dict[str, str] = field(default_factory=dict)

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"

    @property
    def first_line(self) -> str:
        return self.code.split("\n", 1)[0]

    @property
    def fragment(self) -> bool:
        return "fragment" in self.markers or bool(_PROJECT_FILE.match(self.first_line))

    @property
    def module_kind(self) -> str | None:
        """``"step"`` or ``"stream"`` for a block that is a step or stream module (its first line names one)."""
        found = re.match(r"^# (?:[\w./-]+/)?\w+_(step|stream)\.py\b", self.first_line)
        return found.group(1) if found else None


def blocks(page: Path) -> list[Block]:
    text = page.read_text()
    found = []
    for match in _FENCE.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        markers: dict[str, str] = {}
        before = text[:match.start()].split("\n")[:-1]
        while before and (marker := _MARKER.match(before[-1])):
            markers[marker.group("name")] = marker.group("why") or ""
            before.pop()
        code = textwrap.dedent(match.group("body"))
        found.append(Block(page, line, match.group("lang"), code, markers))
    return found


def all_blocks(*langs: str) -> list[Block]:
    return [block for page in PAGES for block in blocks(page) if not langs or block.lang in langs]
