"""A lean HTTP/1.1 server on one event-loop thread: keep-alive, one write per batch of answers, faults.

Every connection is served by a single thread that waits on all sockets at once (`selectors`), reads what
arrived, answers each complete request and writes the answers with one `send`. A thread per connection
cost more than the work of a simulated send: each request handed the GIL between threads several times,
and the simulator shares two cores with the product. Nothing here may block: added latency and hung
answers (faults) are timers on the loop (`call_later`), and the webhook dispatcher's sockets and timers
run on the same loop.

Requests are a request line, `name: value` header lines and a Content-Length (or chunked) body; the
`email`-based parsing of `http.server` is avoided because it costs more than the rest of a send.
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import socket
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass

from .event_loop import EventLoop

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
_MAX_HEAD = 256 * 1024
_MAX_HEADERS = 100
_MAX_BODY = 64 * 1024 * 1024
_RECV_SIZE = 256 * 1024
_ACCEPT_BURST = 64
# A connection whose answers the client does not read stops being served until they drain.
_MAX_PENDING_OUTPUT = 4 * 1024 * 1024


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
    """A complete answer, or a fault or delay in `action`.

    "answer" writes it; "reset" resets the connection; "close" closes it unanswered; "hang" keeps it open
    unanswered for `hang_seconds`, then closes it; "delay" calls `resume` after `hang_seconds` and handles
    the Reply that returns (the connection's later requests wait for it, as HTTP/1.1 orders answers).
    """

    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    action: str = "answer"
    hang_seconds: float = 0.0
    resume: Callable[[], Reply] | None = None

    def encode(self, keep_alive: bool) -> bytes:
        """The full response bytes."""
        head = (
            f"HTTP/1.1 {self.status} {_REASONS.get(self.status, 'Unknown')}\r\n"
            f"Content-Type: {self.content_type}\r\nContent-Length: {len(self.body)}\r\n"
            f"{'' if keep_alive else 'Connection: close' + chr(13) + chr(10)}\r\n"
        )
        return head.encode("latin-1") + self.body


class MalformedHTTP(ValueError):
    """The bytes on a connection are not HTTP/1.x (a request here, an answer for the webhook connections)."""


class LeanHTTPServer:
    """Serves every connection from one event-loop thread (`serve_forever`), until `shutdown()`."""

    def __init__(self, address: tuple[str, int], handle: Callable[[Request], Reply], stopping: threading.Event):
        self.handle_request_callback = handle
        self.stopping = stopping
        self.loop = EventLoop()
        self._listener = socket.create_server(address, backlog=512)
        self._listener.setblocking(False)
        self.server_address = self._listener.getsockname()[:2]
        self.loop.selector.register(self._listener, selectors.EVENT_READ, self._accept)
        self._connections: set[_Connection] = set()

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        """Serve on this thread until `shutdown()`."""
        self.loop.run(poll_interval)

    def shutdown(self) -> None:
        """Stop `serve_forever` (from another thread) and wait for it to return."""
        self.loop.stop()

    def server_close(self) -> None:
        """Stop listening."""
        with contextlib.suppress(KeyError, ValueError):
            self.loop.selector.unregister(self._listener)
        self._listener.close()

    def close_connections(self) -> None:
        """Close every open connection, hung ones included."""
        if not self.loop.in_loop_thread():
            self.loop.call_soon_threadsafe(self.close_connections)
            return
        for connection in list(self._connections):
            connection.close()

    def _accept(self, _events: int) -> None:
        for _ in range(_ACCEPT_BURST):
            try:
                sock, _ = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as error:  # e.g. out of file descriptors: try again on the next event
                logger.warning("accept failed: %s", error)
                return
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._connections.add(_Connection(self, sock))


class _Connection:
    """One keep-alive connection: input buffer, requests answered in order, output not yet written."""

    __slots__ = (
        "_close_when_written",
        "_expect_sent",
        "_input",
        "_output",
        "_waiting",
        "_writing",
        "closed",
        "server",
        "sock",
    )

    def __init__(self, server: LeanHTTPServer, sock: socket.socket):
        self.server = server
        self.sock = sock
        self._input = b""
        self._output = b""
        self._waiting = False  # a delayed or hung answer holds the connection's later requests
        self._writing = False
        self._expect_sent = False
        self._close_when_written = False
        self.closed = False
        server.loop.selector.register(sock, selectors.EVENT_READ, self._on_events)

    def _on_events(self, events: int) -> None:
        if events & selectors.EVENT_WRITE:
            self._flush()
        if events & selectors.EVENT_READ and not self.closed:
            self._on_readable()

    def _on_readable(self) -> None:
        try:
            data = self.sock.recv(_RECV_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self.close()
            return
        if not data:
            self.close()
            return
        self._input = self._input + data if self._input else data
        if not self._waiting:
            self._serve_buffered()

    def _serve_buffered(self) -> None:
        """Answer every complete request in the input, in order, then write the answers at once."""
        answers = []
        while not self._waiting and not self.closed and len(self._output) < _MAX_PENDING_OUTPUT:
            try:
                parsed = self._next_request()
            except MalformedHTTP as error:
                answers.append(Reply(400, str(error).encode(), "text/plain").encode(keep_alive=False))
                self._write(b"".join(answers), then_close=True)
                return
            if parsed is None:
                break
            request, keep_alive = parsed
            if not self._settle(self._handle(request), keep_alive, answers):
                return
        if answers:
            self._write(b"".join(answers))

    def _handle(self, request: Request) -> Reply:
        try:
            return self.server.handle_request_callback(request)
        except Exception:  # the server loop must survive a bug in one handler: log it and answer 500
            logger.exception("simulator failed on %s %s", request.method, request.path)
            return Reply(500, b'{"error":"simulator internal error"}')

    def _settle(self, reply: Reply, keep_alive: bool, answers: list) -> bool:
        """Act on one reply; False when the connection ended or now waits (answers so far are written)."""
        action = reply.action
        if action == "answer":
            answers.append(reply.encode(keep_alive))
            if keep_alive:
                return True
            self._write(b"".join(answers), then_close=True)
            return False
        if answers:
            self._write(b"".join(answers))
            answers.clear()
        if action == "reset":
            with contextlib.suppress(OSError):
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close()
        elif action == "hang":
            self._waiting = True
            self.server.loop.call_later(reply.hang_seconds, self.close)
        elif action == "delay":
            self._waiting = True
            self.server.loop.call_later(reply.hang_seconds, lambda: self._resume(reply.resume, keep_alive))
        else:  # "close"
            self.close()
        return False

    def _resume(self, resume: Callable[[], Reply], keep_alive: bool) -> None:
        try:
            reply = resume()
        except Exception:
            logger.exception("simulator failed on a delayed request")
            reply = Reply(500, b'{"error":"simulator internal error"}')
        self._waiting = False
        if self.closed:
            return  # the client left meanwhile; the request was still handled, as Meta would
        answers: list = []
        if self._settle(reply, keep_alive, answers):
            if answers:
                self._write(b"".join(answers))
            self._serve_buffered()

    def _next_request(self) -> tuple[Request, bool] | None:
        """Take one complete request off the input, or None while it is incomplete."""
        data = self._input
        if data[:1] in (b"\r", b"\n"):
            data = self._input = data.lstrip(b"\r\n")
        end, separator = data.find(b"\r\n\r\n"), 4
        bare = data.find(b"\n\n", 0, end if end >= 0 else len(data))  # lines ended by a bare LF
        if bare >= 0:
            end, separator = bare, 2
        if end < 0:
            if len(data) > _MAX_HEAD:
                raise MalformedHTTP("request head too large")
            return None
        lines = data[:end].split(b"\n")
        parts = lines[0].split()
        if len(parts) != 3 or not parts[2].startswith(b"HTTP/1."):
            raise MalformedHTTP("malformed request line")
        if len(lines) > _MAX_HEADERS + 1:
            raise MalformedHTTP("too many headers")
        method, target, version = parts
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
        start = end + separator
        if "transfer-encoding" in headers and "chunked" in headers["transfer-encoding"].lower():
            taken = chunked_body(data, start)
            if taken is None:
                self._send_continue(headers)
                return None
            body, finish = taken
        else:
            try:
                length = int(headers.get("content-length", "0"))
            except ValueError:
                raise MalformedHTTP("bad Content-Length") from None
            if not 0 <= length <= _MAX_BODY:
                raise MalformedHTTP("bad Content-Length")
            finish = start + length
            if len(data) < finish:
                self._send_continue(headers)
                return None
            body = data[start:finish]
        self._input = data[finish:]
        self._expect_sent = False
        connection = headers.get("connection", "").lower()
        keep_alive = connection != "close" if version == b"HTTP/1.1" else connection == "keep-alive"
        path, _, query = target.decode("latin-1").partition("?")
        return Request(method.decode("latin-1"), path, query, headers, body), keep_alive

    def _send_continue(self, headers: dict) -> None:
        if not self._expect_sent and headers.get("expect", "").lower() == "100-continue":
            self._expect_sent = True
            self._write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def _write(self, data: bytes, then_close: bool = False) -> None:
        if self.closed:
            return
        if then_close:
            self._waiting = True  # nothing more is read or answered on this connection
            self._close_when_written = True
            self._input = b""
        if self._output:
            self._output += data
        else:
            try:
                sent = self.sock.send(data)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError:
                self.close()
                return
            self._output = data[sent:] if sent < len(data) else b""
        if not self._output:
            if self._close_when_written:
                self.close()
            return
        if not self._writing:
            self._writing = True
            self.server.loop.selector.modify(self.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, self._on_events)

    def _flush(self) -> None:
        try:
            sent = self.sock.send(self._output)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self.close()
            return
        self._output = self._output[sent:]
        if self._output:
            return
        self._writing = False
        if self._close_when_written:
            self.close()
            return
        self.server.loop.selector.modify(self.sock, selectors.EVENT_READ, self._on_events)
        if not self._waiting and self._input:
            self._serve_buffered()

    def close(self) -> None:
        """Close the socket and forget the connection (idempotent)."""
        if self.closed:
            return
        self.closed = True
        self.server._connections.discard(self)
        with contextlib.suppress(KeyError, ValueError):
            self.server.loop.selector.unregister(self.sock)
        with contextlib.suppress(OSError):
            self.sock.close()


def chunked_body(data: bytes, start: int) -> tuple[bytes, int] | None:
    """The decoded chunked body starting at `start` and where it ends, or None while incomplete."""
    chunks = []
    total = 0
    position = start
    while True:
        line_end = data.find(b"\n", position)
        if line_end < 0:
            return None
        try:
            size = int(data[position:line_end].split(b";")[0].strip(), 16)
        except ValueError:
            raise MalformedHTTP("bad chunk size") from None
        position = line_end + 1
        if size == 0:
            while True:  # trailers, ignored, up to the empty line
                line_end = data.find(b"\n", position)
                if line_end < 0:
                    return None
                line = data[position:line_end]
                position = line_end + 1
                if line in (b"", b"\r"):
                    return b"".join(chunks), position
        total += size
        if total > _MAX_BODY:
            raise MalformedHTTP("body too large")
        if len(data) < position + size:
            return None
        chunks.append(data[position : position + size])
        position += size
        line_end = data.find(b"\n", position)
        if line_end < 0:
            return None
        position = line_end + 1
