"""The workbench's Flows page in a real Chromium: each flow of the example project drawn as its own graph, laid
out by the vendored ELK, with the expected nodes, edge labels placed on the edges (topics and streams), no two
nodes overlapping and no two edges crossing.

The page's screenshot goes to test-artifacts/; with ``MOTIA_DOCS_SCREENSHOTS=1`` it also replaces the one
docs/workbench.md shows (docs/workbench-flows.png), so a plain test run never changes a committed file.
"""

from __future__ import annotations

import itertools
import os
from typing import Any

from tests.scenarios.browser.conftest import ARTIFACTS, shot
from tests.support.server import ROOT, LiveServer

#: What each example flow holds: its nodes' labels and its edges as (source, label, target).
EXPECTED = {
    "chat": {
        "nodes": {"ChatTyping", "CreateChatMessage", "DeleteChatMessage", "ListChatMessages", "UpdateChatMessage",
                  "chatMessage"},
        "edges": {("ChatTyping", "chatMessage", "chatMessage"), ("CreateChatMessage", "chatMessage", "chatMessage"),
                  ("DeleteChatMessage", "chatMessage", "chatMessage"),
                  ("UpdateChatMessage", "chatMessage", "chatMessage")},
    },
    "housekeeping": {"nodes": {"CleanUpFinishedEvents"}, "edges": set()},
    "open-ai": {
        "nodes": {"OpenAiApi", "CallOpenAi", "openai"},
        "edges": {("OpenAiApi", "openai-prompt", "CallOpenAi"), ("OpenAiApi", "openai", "openai"),
                  ("CallOpenAi", "openai", "openai")},
    },
    "todos": {
        "nodes": {"todos", "CountTodos", "todoStats"},
        "edges": {("todos", "todos", "CountTodos"), ("CountTodos", "todoStats", "todoStats")},
    },
}

SCREENSHOT = ROOT / "docs" / "workbench-flows.png"

# Per flow graph: nodes (label, kind, box), edges (source/target labels, kind, path points), edge labels (text, box).
# Boxes are the rendered ones (getBoundingClientRect), so what is checked is what is on the screen.
READ_GRAPHS = """
() => Array.from(document.querySelectorAll('section.wb-flow')).map((section) => {
  const box = (el) => { const r = el.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; };
  const svg = section.querySelector('svg.wb-graph');
  const labels = new Map(Array.from(section.querySelectorAll('g.wb-node'))
    .map((g) => [g.dataset.node, g.dataset.label]));
  const toScreen = (path) => {
    const m = path.getScreenCTM();
    const pts = [];
    for (const cmd of path.getAttribute('d').match(/[MLQ][^MLQ]*/g)) {
      const nums = cmd.slice(1).trim().split(/[ ,]+/).map(Number);
      const [x, y] = nums.slice(-2);  // a Q's end point: corners are rounded, the segments stay straight
      const p = new DOMPoint(x, y).matrixTransform(m);
      pts.push({cmd: cmd[0], x: p.x, y: p.y});
    }
    return pts;
  };
  return {
    flow: section.dataset.flow,
    state: section.dataset.state,
    svgs: section.querySelectorAll('svg.wb-graph').length,
    nodes: Array.from(section.querySelectorAll('g.wb-node')).map((g) => ({
      id: g.dataset.node, label: g.dataset.label, kind: g.getAttribute('class'),
      box: box(g.querySelector('rect'))})),
    edges: Array.from(section.querySelectorAll('path.wb-edge')).map((p) => ({
      id: p.dataset.edge, source: labels.get(p.dataset.source), target: labels.get(p.dataset.target),
      points: toScreen(p)})),
    labels: Array.from(section.querySelectorAll('g.wb-edge-label')).map((g) => ({
      edge: g.dataset.edge, text: g.querySelector('text').textContent, box: box(g.querySelector('rect'))})),
  };
})
"""


def overlap(a: list[float], b: list[float], margin: float = 0.0) -> bool:
    return a[0] < b[2] - margin and b[0] < a[2] - margin and a[1] < b[3] - margin and b[1] < a[3] - margin


def segments(points: list[dict[str, Any]]) -> list[tuple[tuple[float, float], tuple[float, float]]]:
    out = []
    for a, b in itertools.pairwise(points):
        if b["cmd"] != "M":
            out.append(((a["x"], a["y"]), (b["x"], b["y"])))
    return out


def cross(s: tuple[tuple[float, float], tuple[float, float]], t: tuple[tuple[float, float], tuple[float, float]]) -> bool:
    """Whether two segments properly cross (touching, sharing an end or running along each other is not)."""
    def orient(p: tuple[float, float], q: tuple[float, float], r: tuple[float, float]) -> float:
        return (q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0])

    (p1, p2), (q1, q2) = s, t
    d1, d2 = orient(q1, q2, p1), orient(q1, q2, p2)
    d3, d4 = orient(p1, p2, q1), orient(p1, p2, q2)
    eps = 1e-6
    return ((d1 > eps and d2 < -eps) or (d1 < -eps and d2 > eps)) and (
        (d3 > eps and d4 < -eps) or (d3 < -eps and d4 > eps))


def test_flows_page_draws_each_flow_as_a_laid_out_graph(workbench_server: LiveServer, new_page: Any) -> None:
    page = new_page()
    page.goto(f"{workbench_server.url}/flows")
    page.wait_for_selector('#wb-flows[data-state="laid-out"]')
    graphs = {g["flow"]: g for g in page.evaluate(READ_GRAPHS)}

    assert set(graphs) == set(EXPECTED), "one graph per flow, and no '(no flow)' graph"
    for flow, expected in EXPECTED.items():
        graph = graphs[flow]
        assert graph["state"] == "laid-out" and graph["svgs"] == 1, graph
        assert {n["label"] for n in graph["nodes"]} == expected["nodes"], flow
        # every edge has its label, as ELK placed it, and it is the topic or the stream
        by_id = {e["id"]: e for e in graph["edges"]}
        assert {(e["source"], label["text"], e["target"]) for label in graph["labels"]
                for e in [by_id[label["edge"]]]} == expected["edges"], flow
        assert len(graph["labels"]) == len(graph["edges"]) == len(expected["edges"]), flow

        nodes = graph["nodes"]
        for a, b in itertools.combinations(nodes, 2):
            assert not overlap(a["box"], b["box"]), f"{flow}: nodes {a['label']} and {b['label']} overlap"
        for label in graph["labels"]:
            for node in nodes:
                assert not overlap(label["box"], node["box"]), f"{flow}: label {label['text']} covers {node['label']}"
        for a, b in itertools.combinations(graph["labels"], 2):
            assert not overlap(a["box"], b["box"]), f"{flow}: labels {a['text']} and {b['text']} overlap"
        for a, b in itertools.combinations(graph["edges"], 2):
            assert not any(cross(s, t) for s in segments(a["points"]) for t in segments(b["points"])), (
                f"{flow}: edges {a['source']}->{a['target']} and {b['source']}->{b['target']} cross")
        # edges start at their source and end at their target (the boxes' borders)
        boxes = {n["label"]: n["box"] for n in nodes}
        for edge in graph["edges"]:
            start, end = edge["points"][0], edge["points"][-1]
            assert on_border(boxes[edge["source"]], start), (flow, edge)
            assert on_border(boxes[edge["target"]], end, slack=3), (flow, edge)

    # left to right: emitter before subscriber, writer before stream, triggering stream before the step
    x = {(f, n["label"]): n["box"][0] for f, g in graphs.items() for n in g["nodes"]}
    assert x["open-ai", "OpenAiApi"] < x["open-ai", "CallOpenAi"] < x["open-ai", "openai"]
    assert x["todos", "todos"] < x["todos", "CountTodos"] < x["todos", "todoStats"]

    # the graphs are drawn one under the other, never on top of each other
    sections = page.evaluate("() => Array.from(document.querySelectorAll('section.wb-flow'))"
                             ".map((s) => { const r = s.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom] })")
    for a, b in itertools.combinations(sections, 2):
        assert not overlap(a, b)
    # a node says what it is on hover (its title)
    title = page.locator('section[data-flow="housekeeping"] g.wb-node title').text_content()
    assert "schedule: 0 3 * * *" in (title or "")
    assert page.errors == []

    shot(page, "flows")
    target = SCREENSHOT if os.environ.get("MOTIA_DOCS_SCREENSHOTS") == "1" else ARTIFACTS / "workbench-flows-graphs.png"
    page.screenshot(path=str(target), full_page=True, animations="disabled")
    assert target.stat().st_size < 300_000, "keep the screenshot small"


def on_border(box: list[float], point: dict[str, Any], slack: float = 1.5) -> bool:
    left, top, right, bottom = box
    x, y = point["x"], point["y"]
    inside = left - slack <= x <= right + slack and top - slack <= y <= bottom + slack
    near = min(abs(x - left), abs(x - right), abs(y - top), abs(y - bottom)) <= slack
    return inside and near


def test_one_flow_alone_and_the_text_listing(workbench_server: LiveServer, new_page: Any) -> None:
    page = new_page()
    page.goto(f"{workbench_server.url}/flows?flow=open-ai")
    page.wait_for_selector('#wb-flows[data-state="laid-out"]')
    assert page.locator("section.wb-flow").count() == 1
    section = page.locator('section.wb-flow[data-flow="open-ai"]')
    assert section.locator("g.wb-node").count() == 3
    label = section.locator('g.wb-edge-label[data-label="openai-prompt"]')
    assert label.count() == 1 and label.locator("title").text_content() == (
        "OpenAiApi → CallOpenAi: topic openai-prompt")
    section.locator("details summary").click()
    assert "OpenAiApi → CallOpenAi: openai-prompt" in section.locator(".wb-flow-edges").inner_text()
    assert page.errors == []


def test_without_the_layout_library_the_flows_are_listed_as_text(workbench_server: LiveServer, new_page: Any) -> None:
    page = new_page()
    page.route("**/vendor/elk.bundled.js", lambda route: route.abort())
    page.goto(f"{workbench_server.url}/flows?flow=open-ai")
    section = page.locator('section.wb-flow[data-flow="open-ai"][data-state="error"]')
    section.wait_for()
    assert "Layout failed" in section.locator('[data-role="status"]').inner_text()
    assert section.locator("svg.wb-graph").count() == 0
    assert section.locator("details").get_attribute("open") is not None  # the text listing is shown instead
    assert section.locator(".wb-flow-edges").is_visible()
    assert "OpenAiApi → CallOpenAi: openai-prompt" in section.locator(".wb-flow-edges").inner_text()
    page.errors.clear()  # the blocked script and the logged failure are expected here
