"""The workbench in a real Chromium: try API steps, watch a reply stream in, see chat messages arrive live, and
see errors (a 400 with schema errors, a refused subscription, a lost connection and the reconnect) shown plainly.
"""

from __future__ import annotations

import itertools
import json
import uuid
from typing import Any

from tests.scenarios.browser.conftest import shot
from tests.support.server import LiveServer

PROMPT = "tell me how motia streams push every token to the browser as it is written"
REPLY = f"echo: {PROMPT}"

# Records every text the live item panel shows, so a test can check the reply grew step by step.
RECORD_LIVE_ITEM = """
(panel) => {
  window.__liveTexts = [];
  const pre = panel.querySelector('[data-testid="live-item"]');
  new MutationObserver(() => window.__liveTexts.push(pre.textContent))
    .observe(pre, {childList: true, characterData: true, subtree: true});
}
"""


def live_message(text: str) -> str | None:
    try:
        return json.loads(text).get("message")
    except (ValueError, AttributeError):
        return None


def wait_connected(page: Any) -> None:
    page.wait_for_selector('#wb-conn[data-state="open"]')


def open_endpoint(page: Any, server: LiveServer, step: str) -> Any:
    page.goto(f"{server.url}/endpoints#{step}")
    panel = page.locator(f'section.wb-endpoint[data-step="{step}"]')
    panel.wait_for(state="visible")
    wait_connected(page)
    return panel


def test_openai_reply_streams_in_token_by_token(workbench_server: LiveServer, new_page: Any) -> None:
    page = new_page()
    panel = open_endpoint(page, workbench_server, "OpenAiApi")
    assert "/open-ai" in panel.locator("h1").inner_text()
    assert json.loads(panel.locator("textarea[name=body]").input_value()) == {"message": "string"}
    shot(page, "endpoints")

    panel.locator("textarea[name=body]").fill(json.dumps({"message": PROMPT}))
    panel.evaluate(RECORD_LIVE_ITEM)
    panel.get_by_role("button", name="Test").click()
    panel.locator('[data-role="status"]', has_text="200").wait_for()
    body = json.loads(panel.locator('[data-role="body"]').inner_text())
    assert body["__motia"] == {"type": "state-stream", "streamName": "openai", "groupId": body["__motia"]["groupId"],
                               "id": "message"}

    # mid-stream: some of the reply is shown, not all of it yet
    page.wait_for_function(
        "() => { try { const m = JSON.parse(document.querySelector('.wb-endpoint:not([hidden]) "
        "[data-testid=live-item]').textContent).message; return m.split(' ').length >= 4 } catch { return false } }")
    shot(page, "openai-streaming")
    page.wait_for_function(
        "(reply) => { try { return JSON.parse(document.querySelector('.wb-endpoint:not([hidden]) "
        "[data-testid=live-item]').textContent).message === reply } catch { return false } }", arg=REPLY)
    shot(page, "openai-done")

    shown = [m for m in (live_message(t) for t in page.evaluate("window.__liveTexts")) if m is not None]
    distinct = list(dict.fromkeys(shown))
    assert distinct[-1] == REPLY
    assert len(distinct) >= 3, f"the reply did not grow in steps: {distinct}"
    assert all(b.startswith(a) for a, b in itertools.pairwise(distinct)), distinct
    assert "live" in panel.locator('[data-role="live-state"]').inner_text()
    assert page.errors == []

    # the event that produced it is on the events page, done
    page.goto(f"{workbench_server.url}/events")
    row = page.locator("#wb-events tbody tr", has_text="CallOpenAi").first
    row.locator(".wb-status-done").wait_for()
    assert "openai-prompt" in row.inner_text()
    shot(page, "events")


def test_chat_message_from_endpoints_appears_in_streams_view(workbench_server: LiveServer, new_page: Any) -> None:
    room = f"room-{uuid.uuid4().hex[:6]}"
    watcher = new_page()
    watcher.goto(f"{workbench_server.url}/streams?stream=chatMessage&group={room}")
    wait_connected(watcher)
    watcher.locator('[data-testid="stream-log"]', has_text="sync").wait_for()
    assert watcher.locator('[data-testid="stream-items"] .wb-item').count() == 0

    page = new_page()
    panel = open_endpoint(page, workbench_server, "CreateChatMessage")
    panel.locator("textarea[name=body]").fill(json.dumps({"channel_id": room, "message": "hello <b>from</b> the page"}))
    panel.get_by_role("button", name="Test").click()
    panel.locator('[data-role="status"]', has_text="201").wait_for()
    created = json.loads(panel.locator('[data-role="body"]').inner_text())

    item = watcher.locator(f'[data-testid="stream-items"] .wb-item[data-id="{created["id"]}"]')
    item.wait_for()
    assert "hello <b>from</b> the page" in item.inner_text()  # shown as text, not as markup
    assert watcher.locator('[data-testid="stream-items"] b').count() == 0
    watcher.locator('[data-testid="stream-log"] .wb-log-create', has_text=created["id"]).wait_for()
    shot(watcher, "streams-live")
    shot(page, "chat-created")
    assert page.errors == [] and watcher.errors == []


def test_invalid_body_shows_the_400_and_its_errors(workbench_server: LiveServer, new_page: Any) -> None:
    page = new_page()
    panel = open_endpoint(page, workbench_server, "OpenAiApi")
    panel.locator("textarea[name=body]").fill(json.dumps({"message": 42}))
    panel.get_by_role("button", name="Test").click()
    panel.locator('[data-role="status"]', has_text="400").wait_for()
    text = panel.locator('[data-role="body"]').inner_text()
    assert "message" in text and ("string" in text or "type" in text), text
    errors = panel.locator('[data-testid="body-errors"]')
    assert errors.is_visible()
    assert "message" in errors.inner_text()
    assert panel.locator(".wb-live").is_hidden()
    shot(page, "invalid-body")


def test_missing_path_parameter_is_reported_without_sending(workbench_server: LiveServer, new_page: Any) -> None:
    page = new_page()
    panel = open_endpoint(page, workbench_server, "ListChatMessages")
    panel.get_by_role("button", name="Test").click()
    panel.locator('[data-role="status"]', has_text="not sent").wait_for()
    assert "channelId" in panel.locator('[data-role="body"]').inner_text()


def test_refused_subscription_is_shown(workbench_server: LiveServer, new_page: Any) -> None:
    page = new_page()
    page.goto(f"{workbench_server.url}/streams?stream=private&group=room-x")
    error = page.locator('#wb-group [data-role="live-error"]')
    error.wait_for()
    assert "STREAM_ACCESS_DENIED" in error.inner_text()
    shot(page, "subscription-refused")


def test_lost_connection_and_reconnect_are_shown(workbench_server: LiveServer, new_page: Any) -> None:
    page = new_page()
    room = f"room-{uuid.uuid4().hex[:6]}"
    page.goto(f"{workbench_server.url}/streams?stream=chatMessage&group={room}")
    wait_connected(page)
    workbench_server.stop()
    page.wait_for_selector('#wb-conn[data-state="closed"]')
    assert "connection lost" in page.locator("#wb-conn").inner_text()
    shot(page, "connection-lost")
    workbench_server.start()
    page.wait_for_selector('#wb-conn[data-state="open"]', timeout=20_000)
    assert "reconnected" in page.locator("#wb-conn").inner_text()
    # the client joined again: a write now still reaches the page
    page.request.post(f"{workbench_server.url}/chat-messages",
                      data=json.dumps({"channel_id": room, "message": "after the reconnect"}),
                      headers={"Content-Type": "application/json"})
    page.locator('[data-testid="stream-items"]', has_text="after the reconnect").wait_for()
    log = page.locator('[data-testid="stream-log"]').inner_text()
    assert "lost" in log and "open" in log
    shot(page, "reconnected")
