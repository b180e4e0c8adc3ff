"""Tools of the hostile-client scenarios (tests/scenarios/test_hostile_clients.py): a raw WebSocket that keeps the
handshake's status (a 429 is not an error here) and may offer subprotocols, a reset (RST, no close frame), and a
sampler of a server process's resident memory (``VmRSS`` in ``/proc/<pid>/status``)."""

from __future__ import annotations

import base64
import json
import os
import socket
import struct
import threading
import time
from typing import Any

from tests.support.rawws import RawSocket


class HandshakeSocket(RawSocket):
    """``RawSocket`` that records the handshake's ``status`` and ``head`` instead of asserting a 101."""

    def __init__(self, port: int, path: str = "/", *, protocols: list[str] | None = None,
                 rcvbuf: int | None = None, timeout: float = 10) -> None:
        self.sock = socket.socket()
        if rcvbuf is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        offer = f"Sec-WebSocket-Protocol: {', '.join(protocols)}\r\n" if protocols else ""
        self.sock.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                           f"{offer}\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)
            if not chunk:
                break
            head += chunk
        self.head = head.decode("latin-1")
        self.status = int(self.head.split(" ", 2)[1]) if self.head.startswith("HTTP/") else 0
        self.buffer = b""

    def json(self) -> dict[str, Any]:
        """The next text frame, decoded (a close frame raises ``Closed`` with its code)."""
        opcode, payload = self.frame()
        if opcode == 8:
            raise Closed(int(struct.unpack("!H", payload[:2])[0]) if len(payload) >= 2 else 1005)
        assert opcode == 1, opcode
        value: dict[str, Any] = json.loads(payload)
        return value

    def join(self, stream: str, group: str, sub: str, id: str | None = None) -> None:
        data = {"streamName": stream, "groupId": group, "subscriptionId": sub, **({"id": id} if id else {})}
        self.send_json({"type": "join", "data": data})

    def reset(self) -> None:
        """Drop the connection with a TCP reset: no close frame, nothing read."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()


class Closed(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


class RssSampler:
    """The largest ``VmRSS`` of process ``pid`` seen while the ``with`` block runs (sampled every 20 ms)."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak = pid, rss_bytes(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, rss_bytes(self.pid))
            except (OSError, RuntimeError):
                return
            time.sleep(0.02)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self.peak = max(self.peak, rss_bytes(self.pid))
