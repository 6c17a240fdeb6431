"""A lean threaded HTTP/1.1 server: keep-alive, one write per response, and connection-level faults.

It is built on stdlib `socketserver` rather than `http.server` because `BaseHTTPRequestHandler` parses every
request's headers with the `email` package, which costs more than the rest of a simulated send; here a
request is a request line, `name: value` header lines and a Content-Length (or chunked) body.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import socketserver
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass

logger = logging.getLogger(__name__)

_REASONS = {
    100: "Continue",
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Payload Too Large",
    500: "Internal Server Error",
}
_MAX_LINE = 65536
_MAX_HEADERS = 100
_MAX_BODY = 64 * 1024 * 1024


@dataclass(slots=True)
class Request:
    """A parsed request: method, path (without the query), raw query string, lower-cased headers, body."""

    method: str
    path: str
    query: str
    headers: dict
    body: bytes


@dataclass(slots=True)
class Reply:
    """A complete answer; `action` other than "answer" is a fault: "reset", "hang" or "close"."""

    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    action: str = "answer"
    hang_seconds: float = 0.0

    def encode(self, keep_alive: bool) -> bytes:
        """The full response bytes, written with one `sendall`."""
        head = (
            f"HTTP/1.1 {self.status} {_REASONS.get(self.status, 'Unknown')}\r\n"
            f"Content-Type: {self.content_type}\r\nContent-Length: {len(self.body)}\r\n"
            f"{'' if keep_alive else 'Connection: close' + chr(13) + chr(10)}\r\n"
        )
        return head.encode("latin-1") + self.body


class _BadRequest(Exception):
    """The bytes on the connection are not an HTTP/1.x request."""


class LeanHTTPServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    """One thread per connection, each serving requests until the client closes or asks to."""

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 512

    def __init__(self, address: tuple[str, int], handle: Callable[[Request], Reply], stopping: threading.Event):
        self.handle_request_callback = handle
        self.stopping = stopping
        self._open_sockets: set = set()
        self._open_lock = threading.Lock()
        super().__init__(address, _ConnectionHandler)

    def track(self, sock, opened: bool) -> None:
        """Remember open connections so that `close_connections` can end them."""
        with self._open_lock:
            if opened:
                self._open_sockets.add(sock)
            else:
                self._open_sockets.discard(sock)

    def close_connections(self) -> None:
        """Shut every open connection (their threads then end)."""
        with self._open_lock:
            sockets = list(self._open_sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):  # already closed by the peer
                sock.shutdown(socket.SHUT_RDWR)


class _ConnectionHandler(socketserver.BaseRequestHandler):
    """Serves one keep-alive connection."""

    def handle(self) -> None:
        sock: socket.socket = self.request
        server: LeanHTTPServer = self.server
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        server.track(sock, opened=True)
        reader = sock.makefile("rb", buffering=65536)
        try:
            self._serve(sock, reader, server)
        except (ConnectionError, TimeoutError):
            pass  # the client went away; nothing to answer
        except OSError as error:
            logger.debug("connection error: %s", error)
        finally:
            server.track(sock, opened=False)
            reader.close()

    def _serve(self, sock: socket.socket, reader, server: LeanHTTPServer) -> None:
        while True:
            try:
                parsed = _read_request(sock, reader)
            except _BadRequest as error:
                sock.sendall(Reply(400, str(error).encode(), "text/plain").encode(keep_alive=False))
                return
            if parsed is None:
                return
            request, keep_alive = parsed
            try:
                reply = server.handle_request_callback(request)
            except Exception:  # the server loop must survive a bug in one handler: log it and answer 500
                logger.exception("simulator failed on %s %s", request.method, request.path)
                reply = Reply(500, b'{"error":"simulator internal error"}')
            if reply.action == "reset":
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                return
            if reply.action == "hang":
                server.stopping.wait(reply.hang_seconds)
                return
            if reply.action == "close":
                return
            sock.sendall(reply.encode(keep_alive))
            if not keep_alive:
                return


def _read_request(sock: socket.socket, reader) -> tuple[Request, bool] | None:
    line = reader.readline(_MAX_LINE)
    while line in (b"\r\n", b"\n"):
        line = reader.readline(_MAX_LINE)
    if not line:
        return None
    parts = line.split()
    if len(parts) != 3 or not parts[2].startswith(b"HTTP/1."):
        raise _BadRequest("malformed request line")
    method, target, version = parts
    headers = {}
    for _ in range(_MAX_HEADERS):
        header_line = reader.readline(_MAX_LINE)
        if header_line in (b"\r\n", b"\n", b""):
            break
        name, _, value = header_line.partition(b":")
        headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
    else:
        raise _BadRequest("too many headers")
    if headers.get("expect", "").lower() == "100-continue":
        sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = _read_chunked(reader)
    else:
        try:
            length = int(headers.get("content-length", "0"))
        except ValueError:
            raise _BadRequest("bad Content-Length") from None
        if not 0 <= length <= _MAX_BODY:
            raise _BadRequest("bad Content-Length")
        body = reader.read(length) if length else b""
        if len(body) != length:
            return None
    connection = headers.get("connection", "").lower()
    keep_alive = connection != "close" if version == b"HTTP/1.1" else connection == "keep-alive"
    path, _, query = target.decode("latin-1").partition("?")
    return Request(method.decode("latin-1"), path, query, headers, body), keep_alive


def _read_chunked(reader) -> bytes:
    chunks = []
    total = 0
    while True:
        size_line = reader.readline(_MAX_LINE)
        try:
            size = int(size_line.split(b";")[0].strip(), 16)
        except ValueError:
            raise _BadRequest("bad chunk size") from None
        if size == 0:
            while reader.readline(_MAX_LINE) not in (b"\r\n", b"\n", b""):
                pass  # trailers are ignored
            return b"".join(chunks)
        total += size
        if total > _MAX_BODY:
            raise _BadRequest("body too large")
        chunks.append(reader.read(size))
        reader.readline(_MAX_LINE)
