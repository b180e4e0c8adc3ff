"""The React example (example_project/frontend) in a real Chromium against the example server: Motia's own
``@motiadev/stream-client-react`` hooks show messages posted, edited and deleted, a streamed LLM reply, typing
from another page, and the room's presence.

The page is built with ``npm ci`` + ``npm run build`` into the gitignored ``dist/``; a stamp of the lock file's
and the sources' hash makes reruns skip both.
"""

from __future__ import annotations

import hashlib
import itertools
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.scenarios.browser.conftest import ARTIFACTS, workbench_env
from tests.support import services
from tests.support.server import ROOT, LiveServer

FRONTEND = ROOT / "example_project" / "frontend"
PROMPT = "stream every token of this reply to the React page"
REPLY = f"echo: {PROMPT}"


def source_hash() -> str:
    digest = hashlib.sha256()
    files = [FRONTEND / name for name in ("package-lock.json", "package.json", "index.html", "vite.config.js")]
    files += sorted(p for p in (FRONTEND / "src").rglob("*") if p.is_file())
    for path in files:
        digest.update(str(path.relative_to(FRONTEND)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def npm(*args: str) -> None:
    result = subprocess.run(["npm", *args], cwd=FRONTEND, capture_output=True, text=True, timeout=300)
    if result.returncode:
        pytest.fail(f"npm {' '.join(args)} failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")


@pytest.fixture(scope="module")
def built_frontend() -> Path:
    if shutil.which("npm") is None:
        services.skip_or_fail("npm not found (Node 20 and npm build the React example)")
    stamp = FRONTEND / "dist" / ".source-hash"
    wanted = source_hash()
    if not (stamp.is_file() and stamp.read_text() == wanted and (FRONTEND / "dist" / "index.html").is_file()):
        lock = FRONTEND / "node_modules" / ".package-lock.json"
        if not lock.is_file() or lock.stat().st_mtime < (FRONTEND / "package-lock.json").stat().st_mtime:
            npm("ci", "--no-audit", "--no-fund")
        npm("run", "build")
        stamp.write_text(wanted)
    return FRONTEND / "dist"


@pytest.fixture(scope="module")
def example_server(built_frontend: Path, live_db_url: str,
                   tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = LiveServer(workbench_env(live_db_url), log_dir=tmp_path_factory.mktemp("logs"))
    with server:
        yield server


def page_errors(page: Any) -> list[str]:
    """The page's errors, less the one Motia's hooks log on their first render, before the provider's effect has
    made the stream (``useStreamGroup: ... stream: null``)."""
    return [e for e in page.errors if "stream: null" not in e]


def open_app(new_page: Any, server: LiveServer, room: str) -> Any:
    page = new_page()
    page.goto(f"{server.url}/app/?room={room}")
    page.get_by_role("heading", name=f"Chat: {room}").wait_for()
    return page


def messages(page: Any) -> list[str]:
    return page.locator('[data-testid="messages"] li .text').all_inner_texts()


def wait_messages(page: Any, expected: list[str]) -> None:
    page.wait_for_function(
        "(want) => JSON.stringify([...document.querySelectorAll('[data-testid=messages] li .text')]"
        ".map((e) => e.textContent)) === JSON.stringify(want)", arg=expected)


def wait_members(page: Any, count: int) -> None:
    page.wait_for_function(
        "(n) => document.querySelectorAll('[data-testid=presence] .member').length === n", arg=count)


def send(page: Any, text: str) -> None:
    page.get_by_label("Message", exact=True).fill(text)
    page.get_by_role("button", name="Send").click()


def test_chat_messages_typing_and_presence(example_server: LiveServer, new_page: Any) -> None:
    alice = open_app(new_page, example_server, "react-room")
    wait_members(alice, 1)
    bob = open_app(new_page, example_server, "react-room")
    wait_members(alice, 2)
    wait_members(bob, 2)

    send(alice, "hello")
    send(alice, "second")
    send(alice, "third")
    wait_messages(bob, ["hello", "second", "third"])

    # typing in bob's page shows in alice's, not in his own
    bob.get_by_label("Message", exact=True).press_sequentially("hi", delay=20)
    bob_id = bob.get_by_label("Message", exact=True).get_attribute("placeholder").removeprefix("Message as ")
    alice.locator('[data-testid="typing"]', has_text=f"{bob_id} typing").wait_for()
    assert bob_id not in bob.locator('[data-testid="typing"]').inner_text()  # not shown to oneself

    row = bob.locator('[data-testid="messages"] li', has_text="second")
    row.get_by_role("button", name="Edit").click()
    bob.get_by_label("Edit message").fill("second, edited")
    bob.get_by_role("button", name="Save").click()
    wait_messages(alice, ["hello", "second, edited", "third"])

    alice.locator('[data-testid="messages"] li', has_text="hello").get_by_role("button", name="Delete").click()
    wait_messages(bob, ["second, edited", "third"])
    wait_messages(alice, ["second, edited", "third"])
    ARTIFACTS.mkdir(exist_ok=True)
    alice.screenshot(path=str(ARTIFACTS / "react-chat.png"))

    bob.goto("about:blank")  # bob leaves: his socket closes
    wait_members(alice, 1)
    assert page_errors(alice) == []


def test_openai_reply_streams_in(example_server: LiveServer, new_page: Any) -> None:
    page = open_app(new_page, example_server, "react-llm")
    page.evaluate("""() => {
      window.__replies = [];
      new MutationObserver(() => {
        const p = document.querySelector('[data-testid=reply]');
        if (p) window.__replies.push(p.textContent);
      }).observe(document.body, {childList: true, characterData: true, subtree: true});
    }""")
    page.get_by_label("Prompt").fill(PROMPT)
    page.get_by_role("button", name="Ask").click()
    page.locator('[data-testid="reply"]', has_text=REPLY).wait_for()
    assert page.locator('[data-testid="reply"]').inner_text() == REPLY
    shown = list(dict.fromkeys(t for t in page.evaluate("window.__replies") if t not in ("", "…")))
    assert shown[-1] == REPLY
    assert len(shown) >= 3, f"the reply did not grow in steps: {shown}"
    assert all(b.startswith(a) for a, b in itertools.pairwise(shown)), shown
    assert page_errors(page) == []


def test_a_missing_asset_is_a_404(example_server: LiveServer, new_page: Any) -> None:
    page = new_page()
    response = page.goto(f"{example_server.url}/app/assets/missing.js")
    assert response is not None and response.status == 404
