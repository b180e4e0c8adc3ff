"""The public API's types: the typed examples of the README and the docs (``<!-- typed -->`` blocks: the sync and
async step examples and the client example) pass ``mypy --strict`` as a user's project would check them, and a
wrong use (awaiting a sync call, not awaiting an async one) fails."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.support.docs import ROOT, all_blocks


def typed_examples() -> dict[str, str]:
    """The ``<!-- typed -->`` blocks by file name: step modules (a first line ``# steps/...``) by their page and path,
    the client example, others by page and line."""
    found = {}
    for block in all_blocks("python"):
        if "typed" not in block.markers:
            continue
        first = block.first_line
        if first.startswith("# steps/"):
            found[f"{block.page.stem.lower()}_{first.split()[1].replace('/', '_')}"] = block.code
        elif "from motia_django.client import StreamClient" in block.code and "asyncio.run" in block.code:
            found["client_example.py"] = block.code
        else:
            found[re.sub(r"\W", "_", block.where) + ".py"] = block.code
    return found


def mypy_strict(folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent", "--no-incremental",
                           str(folder)], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_the_docs_have_typed_sync_and_async_steps_and_a_client_example():
    examples = typed_examples()
    assert any("async def handler" in code and "AsyncFlowContext" in code for code in examples.values())
    assert any("\ndef handler" in code and "FlowContext" in code for code in examples.values())
    assert "client_example.py" in examples


def test_typed_examples_pass_mypy_strict(tmp_path):
    for name, code in typed_examples().items():
        (tmp_path / name).write_text(code)
    result = mypy_strict(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_sees_sync_calls_as_sync_and_async_ones_as_async(tmp_path):
    (tmp_path / "wrong.py").write_text(
        "from motia_django import AsyncFlowContext, FlowContext\n\n\n"
        "async def awaits_a_sync_call(context: FlowContext) -> None:\n"
        "    await context.streams.chatMessage.set('g', 'i', {})\n\n\n"
        "async def forgets_to_await(context: AsyncFlowContext) -> None:\n"
        "    item = context.streams.chatMessage.set('g', 'i', {})\n"
        "    print(item['id'])\n")
    result = mypy_strict(tmp_path)
    assert result.returncode == 1
    assert "wrong.py:5: error: Incompatible types in \"await\"" in result.stdout
    assert "wrong.py:10: error" in result.stdout and "not indexable" in result.stdout
