"""A small HTTP/1.1 client for hostile requests to live servers: any method, target, ``Host``, body bytes and
framing (declared length, chunks, a body cut short), a response read while the body is still being sent, and a
``Browser`` that keeps cookies (an admin login with Django's CSRF dance).

Each request opens its own connection (``Connection: close``), so one refused request cannot leave state for the
next. Timeouts only bound a hang; nothing here measures time.
"""

from __future__ import annotations

import http.client
import json
import re
import select
import socket
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import quote, urlencode

TIMEOUT = 20.0

#: A string value, written as raw JSON text: lone UTF-16 surrogates (``json.dumps`` cannot write them itself).
SURROGATE_ESCAPES = ["\\ud800", "\\udfff", "\\udc00\\ud800", "a\\ud83d", "\\ud83dz", "\\uDBFF"]


@dataclass
class Reply:
    status: int
    headers: dict[str, str]  # lower-case names (repeated ones joined with ", ")
    body: bytes
    cookies: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        return json.loads(self.body)

    def __str__(self) -> str:
        return f"{self.status} {self.headers} {self.body[:500]!r}"


def encode_body(body: Any) -> bytes | None:
    """``None``; bytes as they are; a ``str`` as UTF-8 (raw JSON text, e.g. with surrogate escapes); anything else
    as JSON."""
    if body is None or isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode()
    return json.dumps(body).encode()


def with_surrogate(value: dict[str, Any], key: str, escape: str = "\\ud800") -> str:
    """The JSON text of ``value`` with the string at ``key`` replaced by ``escape`` (raw JSON text)."""
    marker = "__SURROGATE_MARKER__"
    return json.dumps({**value, key: marker}).replace(f'"{marker}"', f'"{escape}"')


def _head(port: int, method: str, target: str, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {target} HTTP/1.1"]
    names = {k.lower() for k in headers}
    if "host" not in names:
        lines.append(f"Host: 127.0.0.1:{port}")
    if "connection" not in names:
        lines.append("Connection: close")
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _read(sock: socket.socket, method: str, timeout: float) -> Reply:
    sock.setblocking(True)
    sock.settimeout(timeout)
    response = http.client.HTTPResponse(sock, method=method)
    response.begin()
    body = response.read()
    headers: dict[str, str] = {}
    for name, value in response.getheaders():
        headers[name.lower()] = f"{headers[name.lower()]}, {value}" if name.lower() in headers else value
    cookies: dict[str, str] = {}
    for raw in response.msg.get_all("Set-Cookie") or []:
        jar: SimpleCookie = SimpleCookie()
        jar.load(raw)
        cookies.update({name: morsel.value for name, morsel in jar.items()})
    return Reply(response.status, headers, body, cookies)


def exchange(port: int, method: str, target: str, *, headers: dict[str, str] | None = None,
             parts: list[bytes] | None = None, timeout: float = TIMEOUT) -> Reply:
    """Send a request head and ``parts`` of its body, then read the response. The body is sent while watching
    for the answer: a server that answers before the body is all sent (a 413) stops the sending, as a browser
    does. ``parts`` may frame a body cut short (a declared length not reached, chunks without their end): the
    server must then answer without the rest. ``timeout`` bounds a hang (``TimeoutError``)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        sock.sendall(_head(port, method, target, headers or {}))
        payload = b"".join(parts or [])
        view, sent = memoryview(payload), 0
        sock.setblocking(False)
        while sent < len(payload):
            readable, writable, _ = select.select([sock], [sock], [], timeout)
            if readable:
                break  # the answer is arriving: stop sending
            if not writable:
                raise TimeoutError("the server neither reads the body nor answers")
            try:
                sent += sock.send(view[sent:sent + 65536])
            except BlockingIOError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                break
        del view
        return _read(sock, method, timeout)
    finally:
        sock.close()


def send(port: int, method: str, path: str, body: Any = None, *, headers: dict[str, str] | None = None,
         content_type: str | None = "application/json") -> Reply:
    """One request with a ``Content-Length`` body (``encode_body``); ``content_type=None`` sends none."""
    data = encode_body(body)
    all_headers = dict(headers or {})
    if data is not None:
        all_headers.setdefault("Content-Length", str(len(data)))
        if content_type is not None:
            all_headers.setdefault("Content-Type", content_type)
    return exchange(port, method, path, headers=all_headers, parts=[data] if data else [])


def chunked(data: bytes, size: int = 16 * 1024, *, terminate: bool = True) -> list[bytes]:
    """``data`` in HTTP/1.1 chunks (without the final empty chunk unless ``terminate``)."""
    out = [f"{len(data[i:i + size]):x}\r\n".encode() + data[i:i + size] + b"\r\n" for i in range(0, len(data), size)]
    return [*out, b"0\r\n\r\n"] if terminate else out


def raw(port: int, request: bytes) -> bytes:
    """Send raw bytes (a request with ``Connection: close``) and return everything the server sent until EOF."""
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        sock.sendall(request)
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)


# --- what the server stored ----------------------------------------------------------------------------------


def messages(port: int, channel: str) -> list[dict[str, Any]]:
    """The chatMessage items of ``channel`` (GET /chat-messages/<channel>)."""
    reply = send(port, "GET", f"/chat-messages/{quote(channel, safe='')}")
    assert reply.status == 200, reply
    return list(reply.json())


def todos(port: int, list_id: str) -> list[dict[str, Any]]:
    """The todos of list ``list_id`` (GET /todos/?list_id=)."""
    reply = send(port, "GET", "/todos/?" + urlencode({"list_id": list_id}))
    assert reply.status == 200, reply
    return list(reply.json())


# --- a browser: cookies, and a login through the admin ---------------------------------------------------------


class Browser:
    """Keeps the cookies a server sets and sends them back."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cookies: dict[str, str] = {}

    def send(self, method: str, path: str, body: Any = None, *, headers: dict[str, str] | None = None,
             content_type: str | None = "application/json") -> Reply:
        all_headers = dict(headers or {})
        if self.cookies:
            all_headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        reply = send(self.port, method, path, body, headers=all_headers, content_type=content_type)
        self.cookies.update({k: v for k, v in reply.cookies.items() if v})
        return reply

    def login(self, username: str, password: str) -> None:
        """Sign in through ``/admin/login/``: its form's CSRF token and cookie, then the POST."""
        page = self.send("GET", "/admin/login/")
        assert page.status == 200, page
        found = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page.body)
        assert found is not None and "csrftoken" in self.cookies, page
        form = urlencode({"csrfmiddlewaretoken": found.group(1).decode(), "username": username,
                          "password": password, "next": "/admin/"})
        done = self.send("POST", "/admin/login/?next=/admin/", form, content_type="application/x-www-form-urlencoded")
        assert done.status == 302 and "sessionid" in self.cookies, done
