// Replays server frames through Motia's real browser client (@motiadev/stream-client-browser), without a server,
// for the differential test of motia_django.client (tests/test_client.py).
//
//   node replay.mjs
//
// Each stdin line is one case, {"subs": [{"name": "g", "stream": "s", "group": "g", "id": null}, ...],
// "events": ["typing"], "frames": [frame, ...]}; each stdout line answers it with
// {"states": [{"g": state, ...} after each frame], "events": {"g": [[type, data], ...], ...}}.
import { createInterface } from 'node:readline'

// The client's socket: never open (so joins are not sent); frames are handed to its message listeners.
class FakeSocket {
  static OPEN = 1
  constructor() {
    this.readyState = 0
    this.listeners = { message: [], open: [], close: [], error: [] }
    FakeSocket.last = this
  }
  addEventListener(type, listener) {
    ;(this.listeners[type] ??= []).push(listener)
  }
  removeEventListener(type, listener) {
    this.listeners[type] = (this.listeners[type] ?? []).filter((l) => l !== listener)
  }
  send() {}
  close() {}
  deliver(text) {
    for (const listener of this.listeners.message) listener({ data: text })
  }
}
globalThis.WebSocket = FakeSocket

const { Stream } = await import('@motiadev/stream-client-browser')

function replay(plan) {
  const stream = new Stream('ws://replay.invalid')
  const socket = FakeSocket.last
  const subs = {}
  const events = {}
  for (const s of plan.subs) {
    const sub = s.id == null ? stream.subscribeGroup(s.stream, s.group) : stream.subscribeItem(s.stream, s.group, s.id)
    subs[s.name] = sub
    events[s.name] = []
    for (const type of plan.events ?? []) sub.onEvent(type, (data) => events[s.name].push([type, data]))
  }
  const states = []
  for (const frame of plan.frames) {
    socket.deliver(JSON.stringify(frame))
    states.push(Object.fromEntries(Object.entries(subs).map(([name, sub]) => [name, sub.getState()])))
  }
  stream.close()
  return { states, events }
}

createInterface({ input: process.stdin }).on('line', (line) => {
  if (!line.trim()) return
  process.stdout.write(JSON.stringify(replay(JSON.parse(line))) + '\n')
})
