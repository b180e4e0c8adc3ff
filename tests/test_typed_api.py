"""The public API's types: the README's sync and async step examples and its client example pass ``mypy --strict``
as a user's project would check them, and a wrong use (awaiting a sync call, not awaiting an async one) fails."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_examples() -> dict[str, str]:
    """The README's typed examples: step modules (a first line ``# steps/...``) and the client example."""
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
    found = {}
    for block in blocks:
        first = block.splitlines()[0]
        if first.startswith("# steps/"):
            found[first.split()[1].replace("/", "_")] = block
        elif "from motia_django.client import StreamClient" in block and "asyncio.run" in block:
            found["client_example.py"] = block
    return found


def mypy_strict(folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent", "--no-incremental",
                           str(folder)], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_the_readme_has_sync_and_async_steps_and_a_client_example():
    examples = readme_examples()
    assert any("async def handler" in code and "AsyncFlowContext" in code for code in examples.values())
    assert any("\ndef handler" in code and "FlowContext" in code for code in examples.values())
    assert "client_example.py" in examples


def test_readme_examples_pass_mypy_strict(tmp_path):
    for name, code in readme_examples().items():
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
