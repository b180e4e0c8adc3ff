// Drives Motia's real browser stream client (@motiadev/stream-client-browser) for tests/test_realtime_e2e.py.
//
//   node client.mjs '{"url": "ws://127.0.0.1:8000", "protocols": ["Authorization", "token"]}'
//
// Commands arrive on stdin, one JSON object a line:
//   {"cmd": "group", "name": "g1", "stream": "chatMessage", "group": "room", "events": ["typing"]}
//   {"cmd": "item",  "name": "i1", "stream": "chatMessage", "group": "room", "id": "m1", "events": []}
//   {"cmd": "close", "name": "g1"}   (the subscription's close(): sends leave)
//   {"cmd": "exit"}
// Everything observed is printed on stdout, one JSON object a line:
//   {"kind": "open", "protocol": "Authorization"} / {"kind": "close", "code": 1006} / {"kind": "error", ...}
//   {"kind": "state", "name": "g1", "state": [...]}        (after every change of a subscription's state)
//   {"kind": "event", "name": "g1", "type": "typing", "data": {...}}
//   {"kind": "ready"}                                      (commands are accepted from now on)
import { createInterface } from 'node:readline'
import WebSocket from 'ws'

const emit = (obj) => process.stdout.write(JSON.stringify(obj) + '\n')

// Node 20 has no global WebSocket: the browser client uses the `ws` package's, observed for the tests.
globalThis.WebSocket = class ObservedWebSocket extends WebSocket {
  constructor(url, protocols) {
    super(url, protocols)
    this.addEventListener('open', () => emit({ kind: 'open', protocol: this.protocol }))
    this.addEventListener('close', (e) => emit({ kind: 'close', code: e.code }))
    this.addEventListener('error', (e) => emit({ kind: 'error', message: String(e.message ?? e) }))
  }
}

const { Stream } = await import('@motiadev/stream-client-browser')
const plan = JSON.parse(process.argv[2] ?? '{}')
const stream = new Stream(plan.url, plan.protocols ? { protocols: plan.protocols } : undefined)
const subs = new Map()

function watch(name, sub, events) {
  subs.set(name, sub)
  sub.addChangeListener((state) => emit({ kind: 'state', name, state }))
  for (const type of new Set([...(events ?? []), 'error'])) {
    sub.onEvent(type, (data) => emit({ kind: 'event', name, type, data }))
  }
}

const commands = {
  group: (c) => watch(c.name, stream.subscribeGroup(c.stream, c.group, c.sortKey), c.events),
  item: (c) => watch(c.name, stream.subscribeItem(c.stream, c.group, c.id), c.events),
  close: (c) => subs.get(c.name)?.close(),
  exit: () => {
    stream.close()
    process.exit(0)
  },
}

createInterface({ input: process.stdin }).on('line', (line) => {
  if (!line.trim()) return
  const command = JSON.parse(line)
  commands[command.cmd](command)
})
process.stdin.on('end', () => commands.exit())
emit({ kind: 'ready' })
