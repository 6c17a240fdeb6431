"""One keep-alive connection to the app's webhook URL: a POST written in one `sendall`, a lean answer parser.

`http.client` parses every answer's headers with the `email` package and builds each request line by line,
which cost more than the rest of a status webhook; the simulator only needs to POST signed JSON and read a
status code, so this speaks just that much HTTP/1.1 (Content-Length, chunked or read-to-close answers).
"""

from __future__ import annotations

import contextlib
import errno
import os
import selectors
import socket
import ssl
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from .http_server import MalformedHTTP, chunked_body

_MAX_LINE = 65536
_MAX_HEADERS = 100
# Errors after which a POST on a reused keep-alive connection is tried once more on a fresh one: the app
# closed the idle connection before it read the request.
_STALE = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError)


def _request_head(parts) -> bytes:
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return (
        f"POST {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nUser-Agent: facebookexternalua\r\n"
        "Content-Type: application/json\r\nAccept: */*\r\n"
    ).encode("latin-1")


def request_bytes(head: bytes, body: bytes, signature: str) -> bytes:
    """The whole signed POST, written with one send."""
    return b"".join(
        (
            head,
            b"X-Hub-Signature-256: ",
            signature.encode("latin-1"),
            b"\r\nContent-Length: ",
            str(len(body)).encode(),
            b"\r\n\r\n",
            body,
        )
    )


class CallbackError(Exception):
    """The callback URL answered something that is not HTTP/1.x, or closed without answering."""


class CallbackClosed(CallbackError):
    """The connection closed before any answer byte arrived."""


class CallbackConnection:
    """POSTs to one URL over a connection reopened on demand; not thread-safe (one per worker)."""

    def __init__(self, url: str, timeout: float):
        parts = urlsplit(url)
        self.url = url
        self.timeout = timeout
        self.tls = parts.scheme == "https"
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (443 if self.tls else 80)
        self._head = _request_head(parts)
        self._sock: socket.socket | None = None
        self._reader = None

    def post(self, body: bytes, signature: str) -> int:
        """POST `body` signed with `signature`; return the answer's status code (OSError/CallbackError on failure)."""
        request = request_bytes(self._head, body, signature)
        for attempt in range(2):
            reused = self._sock is not None
            if not reused:
                self._open()
            try:
                self._sock.sendall(request)
                status, keep_alive = self._read_answer()
            except (OSError, CallbackError) as error:
                self.close()
                if attempt == 0 and reused and isinstance(error, (*_STALE, CallbackClosed)):
                    continue
                raise
            if not keep_alive:
                self.close()
            return status
        raise CallbackClosed("no answer")  # not reached: the second attempt returns or raises

    def close(self) -> None:
        """Close the connection (the next POST opens a new one)."""
        if self._reader is not None:
            with contextlib.suppress(OSError):
                self._reader.close()
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
        self._sock = self._reader = None

    def _open(self) -> None:
        sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.tls:
            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=self.host)
        self._sock = sock
        self._reader = sock.makefile("rb", buffering=16384)

    def _read_answer(self) -> tuple[int, bool]:
        reader = self._reader
        while True:
            line = reader.readline(_MAX_LINE)
            if not line:
                raise CallbackClosed("the app closed the connection without answering")
            lines = [line]
            while len(lines) <= _MAX_HEADERS + 1:
                header = reader.readline(_MAX_LINE)
                if header in (b"\r\n", b"\n", b""):
                    break
                lines.append(header)
            status, length, chunked, keep_alive = answer_head(lines)
            if 100 <= status < 200:
                continue  # an interim answer (100 Continue); the final one follows
            if chunked:
                _skip_chunked(reader)
            elif length is not None:
                if length and len(reader.read(length)) != length:
                    raise CallbackError("answer body cut short")
            else:
                reader.read()  # no length: the body ends when the app closes
                keep_alive = False
            return status, keep_alive


def _skip_chunked(reader) -> None:
    while True:
        size_line = reader.readline(_MAX_LINE)
        try:
            size = int(size_line.split(b";")[0].strip(), 16)
        except ValueError:
            raise CallbackError("bad chunk size in the answer") from None
        if size == 0:
            while reader.readline(_MAX_LINE) not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return
        reader.read(size)
        reader.readline(_MAX_LINE)


class LoopCallbackConnection:
    """POSTs to one http:// URL from the simulator's event loop: non-blocking connect, send and answer.

    One POST at a time; `on_done(status, error)` runs on the loop with the answer's status code, or None and
    a description of the failure (timeout, refused, reset, not HTTP). The socket stays registered for reading
    while idle, so an app that closes an idle keep-alive connection is noticed before the next POST.
    """

    def __init__(self, loop, url: str, timeout: float):
        parts = urlsplit(url)
        self.url = url
        self.timeout = timeout
        self._loop = loop
        self._address = (parts.hostname or "127.0.0.1", parts.port or 80)
        self._head = _request_head(parts)
        self._sock: socket.socket | None = None
        self._connecting = False
        self._writing = False
        self._request = b""
        self._sent = 0
        self._answer = b""
        self._reused = False
        self._retried = False
        self._deadline = 0.0
        self._watching = False  # a deadline timer is armed (at most one per connection, re-armed as needed)
        self._on_done: Callable[[int | None, str | None], None] | None = None

    def post(self, body: bytes, signature: str, on_done: Callable[[int | None, str | None], None]) -> None:
        """Start POSTing `body` signed with `signature`; `on_done` gets the outcome."""
        self._request = request_bytes(self._head, body, signature)
        self._on_done = on_done
        self._retried = False
        self._deadline = time.monotonic() + self.timeout
        if not self._watching:
            self._watching = True
            self._loop.call_later(self.timeout, self._check_deadline)
        self._begin()

    def close(self) -> None:
        """Close the socket (a later POST opens a new one); a POST in flight is abandoned unanswered."""
        sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(KeyError, ValueError, RuntimeError):
                self._loop.selector.unregister(sock)
            with contextlib.suppress(OSError):
                sock.close()
        self._connecting = self._writing = False

    def _begin(self) -> None:
        self._sent = 0
        self._answer = b""
        self._reused = self._sock is not None
        if self._sock is None:
            try:
                self._open()
            except OSError as error:
                self._fail(error)
            return
        self._send()

    def _open(self) -> None:
        family, kind, protocol, _, address = socket.getaddrinfo(*self._address, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, protocol)
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        code = sock.connect_ex(address)
        if code not in (0, errno.EINPROGRESS, errno.EWOULDBLOCK):
            sock.close()
            raise OSError(code, os.strerror(code))
        self._sock = sock
        self._connecting = True
        self._loop.selector.register(sock, selectors.EVENT_WRITE, self._on_events)

    def _on_events(self, events: int) -> None:
        if self._connecting:
            code = self._sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if code:
                self._fail(ConnectionRefusedError(code, os.strerror(code)))
                return
            self._connecting = False
            self._loop.selector.modify(self._sock, selectors.EVENT_READ, self._on_events)
            self._send()
            return
        if events & selectors.EVENT_WRITE and self._writing:
            self._send()
        if events & selectors.EVENT_READ and self._sock is not None:
            self._receive()

    def _send(self) -> None:
        try:
            self._sent += self._sock.send(memoryview(self._request)[self._sent :])
        except (BlockingIOError, InterruptedError):
            pass
        except OSError as error:
            self._fail(error)
            return
        writing = self._sent < len(self._request)
        if writing != self._writing:
            self._writing = writing
            events = selectors.EVENT_READ | (selectors.EVENT_WRITE if writing else 0)
            self._loop.selector.modify(self._sock, events, self._on_events)

    def _receive(self) -> None:
        try:
            data = self._sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as error:
            self._fail(error)
            return
        if self._on_done is None:  # idle: the app closed the connection (or sent stray bytes)
            self.close()
            return
        if data:
            self._answer += data
        try:
            answer = answer_status(self._answer, closed=not data)
        except CallbackError as error:
            self._fail(error)
            return
        if answer is not None:
            status, keep_alive = answer
            if not keep_alive or self._sent < len(self._request):  # answered before it read all we sent
                self.close()
            self._finish(status, None)
        elif not data:
            self._fail(CallbackClosed("the app closed the connection without answering"))

    def _fail(self, error: Exception) -> None:
        self.close()
        stale = isinstance(error, (*_STALE, CallbackClosed)) and not self._answer
        if self._reused and stale and not self._retried and self._on_done is not None:
            self._retried = True  # the app closed the idle connection before it read the request
            self._begin()
            return
        self._finish(None, f"{type(error).__name__}: {error}")

    def _check_deadline(self) -> None:
        """The POST in flight (if any) times out at its deadline; one timer serves consecutive POSTs."""
        if self._on_done is None:
            self._watching = False
            return
        remaining = self._deadline - time.monotonic()
        if remaining > 0:
            self._loop.call_later(remaining, self._check_deadline)
            return
        self._watching = False
        self.close()
        self._finish(None, "TimeoutError: timed out")

    def _finish(self, status: int | None, error: str | None) -> None:
        on_done, self._on_done = self._on_done, None
        self._request = self._answer = b""
        if on_done is not None:
            on_done(status, error)


def answer_head(lines: list[bytes]) -> tuple[int, int | None, bool, bool]:
    """(status, Content-Length or None, chunked, keep-alive) from an answer's status line and header lines."""
    parts = lines[0].split(None, 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
        raise CallbackError(f"not an HTTP answer: {lines[0][:80]!r}")
    if len(lines) > _MAX_HEADERS + 1:
        raise CallbackError("too many answer headers")
    length, chunked, connection = None, False, b""
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value.strip())
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
        elif name == b"connection":
            connection = value.strip().lower()
    keep_alive = connection != b"close" if parts[0] == b"HTTP/1.1" else connection == b"keep-alive"
    return int(parts[1]), length, chunked, keep_alive


def answer_status(answer: bytes, closed: bool) -> tuple[int, bool] | None:
    """(status, keep-alive) once the final answer in `answer` is complete; None while it is not."""
    position = 0
    while True:
        end, separator = answer.find(b"\r\n\r\n", position), 4
        bare = answer.find(b"\n\n", position, end if end >= 0 else len(answer))
        if bare >= 0:
            end, separator = bare, 2
        if end < 0:
            if len(answer) - position > _MAX_LINE or (closed and answer[position:]):
                raise CallbackError("answer head cut short or too long")
            return None
        status, length, chunked, keep_alive = answer_head(answer[position:end].split(b"\n"))
        position = end + separator
        if 100 <= status < 200:
            continue  # an interim answer (100 Continue); the final one follows
        if chunked:
            try:
                complete = chunked_body(answer, position) is not None
            except MalformedHTTP:
                raise CallbackError("bad chunk size in the answer") from None
        elif length is not None:
            complete = len(answer) - position >= length
        else:
            complete, keep_alive = closed, False  # no length: the body ends when the app closes
        if complete:
            return status, keep_alive
        if closed:
            raise CallbackError("answer body cut short")
        return None
