// motia_django workbench: the live parts of the server-rendered pages.
// Motia's own browser stream client talks to this page's origin (the stream consumer is routed at "/").
// Everything from the server or from stream items goes into the page with textContent, never as HTML.
import { Stream } from "@motiadev/stream-client-browser";

const $ = (selector, root = document) => root.querySelector(selector);
const $$ = (selector, root = document) => Array.from(root.querySelectorAll(selector));
const pretty = (value) => JSON.stringify(value, null, 2);
const clock = () => new Date().toLocaleTimeString([], { hour12: false });

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

function showError(node, message) {
  if (!node) return;
  node.textContent = message || "";
  node.hidden = !message;
}

// --- the stream connection (one per page) ----------------------------------------------------------------------

const connection = {
  stream: null,
  state: "idle",
  drops: 0,
  listeners: new Set(),
  errorHandlers: new Set(),

  get() {
    if (this.stream) return this.stream;
    const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}`;
    const stream = new Stream(url);
    const watch = (adapter) => {
      adapter.onOpen(() => this.set("open"));
      adapter.onClose(() => {
        if (this.state === "open") this.drops += 1;
        this.set("closed");
      });
    };
    watch(stream.ws);
    // The client makes a new socket 2 s after a close and re-joins every subscription on open: watch each one.
    const createSocket = stream.createSocket.bind(stream);
    stream.createSocket = () => {
      this.set("connecting");
      const adapter = createSocket();
      watch(adapter);
      return adapter;
    };
    // Error events for a join (e.g. STREAM_ACCESS_DENIED) carry no item id, so the client hands them to group
    // subscribers only: look at every frame and tell whoever watches that stream and group.
    const onMessage = stream.messageListener.bind(stream);
    stream.messageListener = (raw) => {
      try {
        const message = JSON.parse(raw);
        const inner = message?.event?.type === "event" ? message.event.event : null;
        if (inner && inner.type === "error") this.errorHandlers.forEach((handler) => handler(message, inner.data));
      } catch (err) {
        console.error("workbench: frame is not JSON", raw, err);
      }
      onMessage(raw);
    };
    this.stream = stream;
    this.set("connecting");
    return stream;
  },

  set(state) {
    this.state = state;
    const badge = $("#wb-conn");
    if (badge) {
      badge.dataset.state = state;
      const text = {
        idle: "not connected",
        connecting: this.drops ? `reconnecting… (connection lost ${this.drops}×)` : "connecting…",
        open: this.drops ? `live (reconnected after ${this.drops} drop${this.drops > 1 ? "s" : ""})` : "live",
        closed: "connection lost — retrying every 2 s",
      }[state];
      $(".wb-conn-text", badge).textContent = text;
      badge.title = `WebSocket ${location.host}: ${text}`;
    }
    this.listeners.forEach((listener) => listener(state));
  },

  onError(handler) {
    this.errorHandlers.add(handler);
    return () => this.errorHandlers.delete(handler);
  },
};

/** Log every raw message a subscription receives (the client's own handling runs unchanged). */
function tap(subscription, onMessage) {
  const listener = subscription.listener.bind(subscription);
  subscription.listener = (message) => {
    onMessage(message);
    listener(message);
  };
}

function describeError(data) {
  if (!data || typeof data !== "object") return String(data);
  return [data.code, data.message].filter(Boolean).join(": ") || pretty(data);
}

// --- endpoints ---------------------------------------------------------------------------------------------------

function initEndpoints() {
  connection.get(); // connect now, so the header shows the socket's state before the first Test
  const panels = $$(".wb-endpoint[data-step]");
  const links = $$(".wb-endpoint-link");
  const select = (name) => {
    const panel = panels.find((p) => p.dataset.step === name) || panels[0];
    if (!panel) return;
    panels.forEach((p) => (p.hidden = p !== panel));
    links.forEach((a) => a.toggleAttribute("aria-current", a.dataset.step === panel.dataset.step));
  };
  window.addEventListener("hashchange", () => select(decodeURIComponent(location.hash.slice(1))));
  select(decodeURIComponent(location.hash.slice(1)));
  panels.forEach((panel) => {
    const form = $("form", panel);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      runRequest(panel).catch((err) => console.error(err));
    });
  });
}

function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

function buildRequest(panel) {
  const form = $("form", panel);
  const problems = [];
  let path = panel.dataset.path;
  for (const input of $$('input[data-kind="path"]', form)) {
    const value = input.value.trim();
    if (!value) problems.push(`path parameter :${input.dataset.name} is empty`);
    path = path.replace(`:${input.dataset.name}`, encodeURIComponent(value));
  }
  const query = new URLSearchParams();
  for (const input of $$('input[data-kind="query"]', form)) {
    if (input.value !== "") query.append(input.dataset.name, input.value);
  }
  const headers = new Headers();
  const headerText = form.elements.headers ? form.elements.headers.value : "";
  headerText.split("\n").forEach((line, index) => {
    if (!line.trim()) return;
    const colon = line.indexOf(":");
    if (colon < 1) {
      problems.push(`header line ${index + 1} is not "Name: value"`);
      return;
    }
    try {
      headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
    } catch (err) {
      problems.push(`header line ${index + 1}: ${err.message}`);
    }
  });
  const method = panel.dataset.method;
  const init = { method, headers, credentials: "same-origin" };
  const bodyField = form.elements.body;
  let note = "";
  if (bodyField && bodyField.value.trim() !== "") {
    init.body = bodyField.value;
    if (!headers.has("Content-Type")) headers.set("Content-Type", "application/json");
    try {
      JSON.parse(bodyField.value);
    } catch (err) {
      note = `The body is not valid JSON (${err.message}); it was sent as typed.`;
    }
  }
  if (!["GET", "HEAD", "OPTIONS"].includes(method) && !headers.has("X-CSRFToken") && csrfToken()) {
    headers.set("X-CSRFToken", csrfToken());
  }
  const url = path + (query.toString() ? `?${query}` : "");
  return { url, init, problems, note };
}

async function runRequest(panel) {
  const out = $(".wb-response", panel);
  const statusEl = $('[data-role="status"]', out);
  const timeEl = $('[data-role="time"]', out);
  const bodyEl = $('[data-role="body"]', out);
  const button = $("button[type=submit]", panel);
  out.hidden = false;
  const { url, init, problems, note } = buildRequest(panel);
  if (problems.length) {
    statusEl.textContent = "not sent";
    statusEl.dataset.kind = "error";
    timeEl.textContent = "";
    bodyEl.textContent = problems.join("\n");
    return;
  }
  statusEl.textContent = "sending…";
  statusEl.dataset.kind = "pending";
  timeEl.textContent = `${init.method} ${url}`;
  bodyEl.textContent = "";
  $('[data-role="errors"]', out).hidden = true;
  button.disabled = true;
  const started = performance.now();
  let response;
  try {
    response = await fetch(url, init);
  } catch (err) {
    statusEl.textContent = "network error";
    statusEl.dataset.kind = "error";
    timeEl.textContent = `${Math.round(performance.now() - started)} ms`;
    bodyEl.textContent = `The request failed before a response: ${err.message}`;
    button.disabled = false;
    return;
  }
  const text = await response.text();
  const elapsed = Math.round(performance.now() - started);
  button.disabled = false;
  statusEl.textContent = `${response.status} ${response.statusText}`.trim();
  statusEl.dataset.kind = response.ok ? "ok" : "error";
  timeEl.textContent = `${elapsed} ms · ${init.method} ${url}`;
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
    bodyEl.textContent = (note ? `${note}\n\n` : "") + (text ? pretty(body) : "(empty body)");
  } catch {
    bodyEl.textContent = (note ? `${note}\n\n` : "") + text;
  }
  const errorsEl = $('[data-role="errors"]', out);
  const errors = !response.ok && body && Array.isArray(body.errors) ? body.errors : [];
  errorsEl.replaceChildren(...errors.map((e) => el("li", {},
    el("code", { text: e && e.path !== undefined ? String(e.path || "(body)") : "" }), ` ${e?.message ?? pretty(e)}`)));
  errorsEl.hidden = errors.length === 0;
  const ref = findReference(body);
  if (ref) watchItem(panel, ref);
}

function findReference(body) {
  const isRef = (value) =>
    value && typeof value === "object" && value.__motia && value.__motia.type === "state-stream" &&
    typeof value.__motia.streamName === "string" && typeof value.__motia.groupId === "string" &&
    typeof value.__motia.id === "string";
  if (isRef(body)) return body.__motia;
  if (Array.isArray(body)) return body.find(isRef)?.__motia ?? null;
  return null;
}

const itemWatchers = new WeakMap();

function watchItem(panel, ref) {
  itemWatchers.get(panel)?.();
  const live = $(".wb-live", panel);
  const itemEl = $('[data-role="live-item"]', live);
  const countEl = $('[data-role="live-count"]', live);
  const stateEl = $('[data-role="live-state"]', live);
  const errorEl = $('[data-role="live-error"]', live);
  live.hidden = false;
  $('[data-role="ref"]', live).textContent = `${ref.streamName} / ${ref.groupId} / ${ref.id}`;
  showError(errorEl, "");
  itemEl.textContent = "waiting for the first message…";
  let updates = 0;
  let last = "";
  const showState = (state) => {
    stateEl.textContent = { open: "live", connecting: "connecting", closed: "disconnected", idle: "" }[state];
    stateEl.dataset.state = state;
  };
  const stream = connection.get();
  const subscription = stream.subscribeItem(ref.streamName, ref.groupId, ref.id);
  tap(subscription, (message) => {
    const type = message.event?.type;
    if (type === "event") last = `event ${message.event.event?.type ?? ""}`;
    else last = type;
  });
  subscription.addChangeListener((item) => {
    updates += 1;
    itemEl.textContent = item === null ? "(no such item — it does not exist or was deleted)" : pretty(item);
    countEl.textContent = `${updates} message${updates === 1 ? "" : "s"} · last: ${last} at ${clock()}`;
  });
  const offError = connection.onError((message, data) => {
    if (message.streamName === ref.streamName && message.groupId === ref.groupId && (!message.id || message.id === ref.id)) {
      showError(errorEl, `Subscription refused — ${describeError(data)}`);
      stateEl.textContent = "refused";
      stateEl.dataset.state = "closed";
    }
  });
  connection.listeners.add(showState);
  showState(connection.state);
  itemWatchers.set(panel, () => {
    subscription.close();
    offError();
    connection.listeners.delete(showState);
  });
}

// --- streams -------------------------------------------------------------------------------------------------------

function initStreams() {
  const section = $("#wb-group");
  if (!section) return;
  const { stream: streamName, group: groupId } = section.dataset;
  const itemsEl = $('[data-role="items"]', section);
  const logEl = $('[data-role="log"]', section);
  const countEl = $('[data-role="count"]', section);
  const stateEl = $('[data-role="live-state"]', section);
  const errorEl = $('[data-role="live-error"]', section);
  const seen = new Map($$(".wb-item", itemsEl).map((li) => [li.dataset.id, $("pre", li).textContent]));

  const log = (type, id, detail) => {
    const entry = el("li", { class: `wb-log-entry wb-log-${type.split(" ")[0]}` },
      el("time", { text: clock() }), el("span", { class: "wb-log-type", text: type }),
      el("span", { class: "wb-log-id", text: id ?? "" }), el("code", { text: detail ?? "" }));
    logEl.prepend(entry);
    while (logEl.children.length > 200) logEl.lastElementChild.remove();
  };
  const compact = (value) => {
    const text = JSON.stringify(value);
    return text && text.length > 160 ? `${text.slice(0, 157)}…` : text;
  };
  const render = (items) => {
    const next = new Map();
    const nodes = items.map((item) => {
      const text = pretty(item);
      next.set(item.id, text);
      const li = el("li", { class: "wb-item", dataset: { id: item.id } },
        el("div", { class: "wb-item-id", text: item.id }), el("pre", { class: "wb-code", text }));
      if (seen.get(item.id) !== text) li.classList.add("wb-flash");
      return li;
    });
    itemsEl.replaceChildren(...nodes);
    seen.clear();
    next.forEach((text, id) => seen.set(id, text));
    countEl.textContent = `${items.length} item${items.length === 1 ? "" : "s"}`;
  };

  const showState = (state) => {
    stateEl.textContent = { open: "live", connecting: "connecting", closed: "disconnected", idle: "" }[state];
    stateEl.dataset.state = state;
    if (state === "closed") log("connection", "", "lost — the client reconnects in 2 s and joins again");
    if (state === "open") log("connection", "", `open — joined ${streamName} / ${groupId}`);
  };
  connection.listeners.add(showState);
  const subscription = connection.get().subscribeGroup(streamName, groupId);
  showState(connection.state);
  tap(subscription, (message) => {
    const event = message.event || {};
    if (event.type === "sync") log("sync", "", `${Array.isArray(event.data) ? event.data.length : 0} item(s)`);
    else if (event.type === "event") {
      const inner = event.event || {};
      log(inner.type === "error" ? "error" : "event", message.id, `${inner.type}: ${compact(inner.data)}`);
    } else log(event.type || "?", message.id ?? event.data?.id, compact(event.data));
  });
  subscription.addChangeListener((items) => render(items || []));
  connection.onError((message, data) => {
    if (message.streamName === streamName && message.groupId === groupId) {
      showError(errorEl, `Subscription refused — ${describeError(data)}`);
      stateEl.textContent = "refused";
      stateEl.dataset.state = "closed";
    }
  });
}

// --- events --------------------------------------------------------------------------------------------------------

function initEvents() {
  const table = $("#wb-events");
  const toggle = $("#wb-autorefresh");
  const errorEl = $("#wb-events-error");
  if (!table || !toggle) return;
  const src = new URL(table.dataset.src, location.href);
  if (table.dataset.status) src.searchParams.set("status", table.dataset.status);
  const cell = (text, cls) => el("td", cls ? { class: cls } : {}, text ?? "");
  const refresh = async () => {
    if (!toggle.checked) return;
    try {
      const response = await fetch(src, { credentials: "same-origin", headers: { Accept: "application/json" } });
      const data = await response.json().catch(() => ({}));
      if (!response.ok) throw new Error(data.error || `${response.status} ${response.statusText}`);
      showError(errorEl, "");
      const rows = data.events.map((e) => {
        const id = e.adminUrl ? el("a", { href: e.adminUrl, text: String(e.id) }) : String(e.id);
        return el("tr", {},
          el("td", {}, id), el("td", {}, el("code", { text: e.topic })), cell(e.step),
          el("td", {}, el("span", { class: `wb-status-pill wb-status-${e.status}`, text: e.status })),
          cell(String(e.attempts)), cell(e.lastError, "wb-err-cell"),
          el("td", {}, el("code", { text: (e.traceId || "").slice(0, 13) })), cell(e.created));
      });
      const tbody = $("tbody", table);
      if (rows.length) tbody.replaceChildren(...rows);
      else tbody.replaceChildren(el("tr", {}, el("td", { colspan: "8", class: "wb-empty", text: "No events yet." })));
    } catch (err) {
      showError(errorEl, `Refresh failed: ${err.message}`);
    }
  };
  setInterval(refresh, 2000);
}

// --- flows ---------------------------------------------------------------------------------------------------------
// Each flow's graph comes from the server (catalog.flow_graph, embedded in the page as JSON); ELK (vendored elkjs,
// loaded as a classic script that defines window.ELK) lays it out with its layered algorithm, edge labels placed
// by ELK, and it is drawn here as SVG.

const SVG = "http://www.w3.org/2000/svg";
const NODE_PAD_X = 14;
const NODE_HEIGHT = 50;
const NODE_MIN_WIDTH = 150;
const LABEL_PAD = 6;
const clip = (text, max) => (text.length > max ? `${text.slice(0, max - 1)}…` : text);

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "text") node.textContent = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

/** Widths of texts as the page's CSS draws them (measured in an SVG of the page, off screen). */
function measurer(host) {
  const probe = svg("svg", { class: "wb-graph", width: "0", height: "0", style: "position:absolute;visibility:hidden" });
  host.append(probe);
  return {
    width(text, cls) {
      const node = svg("text", { class: cls, text });
      probe.append(node);
      const width = node.getComputedTextLength();
      node.remove();
      return Math.ceil(width);
    },
    done: () => probe.remove(),
  };
}

const LAYOUT = {
  "elk.algorithm": "layered",
  "elk.direction": "RIGHT",
  "elk.edgeRouting": "ORTHOGONAL",
  "elk.edgeLabels.placement": "CENTER",
  "elk.layered.edgeLabels.sideSelection": "ALWAYS_UP",
  "elk.layered.crossingMinimization.strategy": "LAYER_SWEEP",
  "elk.layered.nodePlacement.strategy": "NETWORK_SIMPLEX",
  "elk.layered.considerModelOrder.strategy": "NODES_AND_EDGES",
  "elk.layered.spacing.nodeNodeBetweenLayers": "56",
  "elk.layered.spacing.edgeNodeBetweenLayers": "20",
  "elk.layered.spacing.edgeEdgeBetweenLayers": "12",
  "elk.spacing.nodeNode": "26",
  "elk.spacing.edgeNode": "18",
  "elk.spacing.edgeEdge": "12",
  "elk.spacing.edgeLabel": "4",
  "elk.spacing.componentComponent": "36",
  "elk.separateConnectedComponents": "true",
  "elk.padding": "[top=18,left=18,bottom=18,right=18]",
};

function elkGraph(graph, measure) {
  return {
    id: "root",
    layoutOptions: LAYOUT,
    children: graph.nodes.map((node) => {
      const label = clip(node.label, 40);
      const detail = clip(node.detail, 46);
      const width = Math.max(NODE_MIN_WIDTH, measure.width(label, "wb-node-label") + 2 * NODE_PAD_X,
        measure.width(detail, "wb-node-detail") + 2 * NODE_PAD_X);
      return { id: node.id, width, height: NODE_HEIGHT };
    }),
    edges: graph.edges.map((edge) => {
      const text = clip(edge.label, 36);
      return {
        id: edge.id, sources: [edge.source], targets: [edge.target],
        labels: [{ id: `${edge.id}-label`, text, width: measure.width(text, "wb-edge-label-text") + 2 * LABEL_PAD, height: 18 }],
      };
    }),
  };
}

/** An orthogonal path through ELK's sections, with rounded corners. */
function edgePath(sections) {
  const parts = [];
  for (const section of sections || []) {
    const points = [section.startPoint, ...(section.bendPoints || []), section.endPoint];
    parts.push(`M${points[0].x},${points[0].y}`);
    for (let i = 1; i < points.length; i += 1) {
      const [a, b, c] = [points[i - 1], points[i], points[i + 1]];
      if (!c) {
        parts.push(`L${b.x},${b.y}`);
        continue;
      }
      const r = Math.min(6, Math.hypot(b.x - a.x, b.y - a.y) / 2, Math.hypot(c.x - b.x, c.y - b.y) / 2);
      const before = { x: b.x - Math.sign(b.x - a.x) * r, y: b.y - Math.sign(b.y - a.y) * r };
      const after = { x: b.x + Math.sign(c.x - b.x) * r, y: b.y + Math.sign(c.y - b.y) * r };
      parts.push(`L${before.x},${before.y}`, `Q${b.x},${b.y} ${after.x},${after.y}`);
    }
  }
  return parts.join(" ");
}

function nodeTitle(node, timeZone) {
  const lines = [node.description ? `${node.label}: ${node.description}` : node.label, `${node.kind} · ${node.detail}`];
  if (node.kind === "cron") {
    lines.push(`schedule: ${node.cron} (${timeZone})`);
    if (node.nextRun) lines.push(`next run: ${node.nextRun}`);
  }
  if (node.flows?.length > 1) lines.push(`in flows: ${node.flows.join(", ")}`);
  return lines.join("\n");
}

function edgeTitle(edge, nodes) {
  const what = { topic: "topic", stream: "writes stream", trigger: "stream trigger" }[edge.kind] ?? edge.kind;
  const extra = [edge.virtual ? "virtual" : "", edge.ops?.length ? edge.ops.join(", ") : "",
    edge.topic && edge.topic !== edge.label ? `topic ${edge.topic}` : ""].filter(Boolean).join("; ");
  return `${nodes.get(edge.source)?.label} → ${nodes.get(edge.target)?.label}: ${what} ${edge.label}${extra ? ` (${extra})` : ""}`;
}

function drawGraph(graph, laid, timeZone, index) {
  const nodes = new Map(graph.nodes.map((n) => [n.id, n]));
  const width = Math.ceil(laid.width);
  const height = Math.ceil(laid.height);
  const marker = `wb-arrow-${index}`;
  const root = svg("svg", {
    class: "wb-graph", width, height, viewBox: `0 0 ${width} ${height}`, role: "img",
    "aria-label": `Flow ${graph.flow}: ${graph.nodes.length} nodes, ${graph.edges.length} edges`,
  }, svg("defs", {}, svg("marker", {
    id: marker, viewBox: "0 0 10 10", refX: "9", refY: "5", markerWidth: "7", markerHeight: "7", orient: "auto-start-reverse",
  }, svg("path", { d: "M0,0 L10,5 L0,10 z" }))));
  const edgeLayer = svg("g", { class: "wb-edges" });
  const labelLayer = svg("g", { class: "wb-edge-labels" });
  const nodeLayer = svg("g", { class: "wb-nodes" });
  const byId = new Map(graph.edges.map((e) => [e.id, e]));
  for (const laidEdge of laid.edges || []) {
    const edge = byId.get(laidEdge.id);
    const cls = `wb-edge wb-edge-${edge.kind}${edge.virtual ? " wb-edge-virtual" : ""}`;
    edgeLayer.append(svg("path", {
      class: cls, d: edgePath(laidEdge.sections), "marker-end": `url(#${marker})`, "data-edge": edge.id,
      "data-source": edge.source, "data-target": edge.target,
    }, svg("title", { text: edgeTitle(edge, nodes) })));
    for (const label of laidEdge.labels || []) {
      labelLayer.append(svg("g", {
        class: `wb-edge-label wb-edge-label-${edge.kind}`, transform: `translate(${label.x},${label.y})`,
        "data-edge": edge.id, "data-label": edge.label,
      }, svg("title", { text: edgeTitle(edge, nodes) }),
        svg("rect", { width: label.width, height: label.height, rx: "4" }),
        svg("text", { class: "wb-edge-label-text", x: label.width / 2, y: label.height / 2 + 4, text: label.text })));
    }
  }
  for (const laidNode of laid.children || []) {
    const node = nodes.get(laidNode.id);
    const round = node.kind === "topic" ? NODE_HEIGHT / 2 : node.kind === "stream" ? 14 : 8;
    nodeLayer.append(svg("g", {
      class: `wb-node wb-node-${node.kind}`, transform: `translate(${laidNode.x},${laidNode.y})`,
      "data-node": node.id, "data-label": node.label,
    }, svg("title", { text: nodeTitle(node, timeZone) }),
      svg("rect", { width: laidNode.width, height: laidNode.height, rx: String(round) }),
      svg("text", { class: "wb-node-label", x: NODE_PAD_X, y: 21, text: clip(node.label, 40) }),
      svg("text", { class: "wb-node-detail", x: NODE_PAD_X, y: 38, text: clip(node.detail, 46) })));
  }
  root.append(edgeLayer, nodeLayer, labelLayer);
  return root;
}

async function whenElkLoaded() {
  if (window.ELK) return window.ELK;
  await new Promise((resolve) => window.addEventListener("load", resolve, { once: true }));
  if (!window.ELK) throw new Error("the layout library (vendor/elk.bundled.js) did not load");
  return window.ELK;
}

async function initFlows() {
  const page = $("#wb-flows");
  if (!page) return;
  const timeZone = page.dataset.timeZone || "UTC";
  const sections = $$(".wb-flow", page);
  let elk = null;
  for (const [index, section] of sections.entries()) {
    const graph = JSON.parse($('script[type="application/json"]', section).textContent);
    const canvas = $('[data-role="canvas"]', section);
    const status = $('[data-role="status"]', section);
    if (!graph.nodes.length) {
      section.dataset.state = "empty";
      continue;
    }
    const measure = measurer(canvas);
    try {
      elk ??= new (await whenElkLoaded())();
      const laid = await elk.layout(elkGraph(graph, measure));
      status.remove();
      canvas.append(drawGraph(graph, laid, timeZone, index));
      section.dataset.state = "laid-out";
    } catch (err) {
      console.error("workbench: layout failed", err);
      status.textContent = `Layout failed: ${err.message || err}. The flow is listed as text below.`;
      status.classList.add("wb-error");
      $("details", section).open = true;
      section.dataset.state = "error";
    } finally {
      measure.done();
    }
  }
  page.dataset.state = "laid-out";
}

const pages = { endpoints: initEndpoints, streams: initStreams, events: initEvents, flows: initFlows };
pages[document.body.dataset.page]?.();
