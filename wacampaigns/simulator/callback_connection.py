"""One keep-alive connection to the app's webhook URL: a POST written in one `sendall`, a lean answer parser.

`http.client` parses every answer's headers with the `email` package and builds each request line by line,
which cost more than the rest of a status webhook; the simulator only needs to POST signed JSON and read a
status code, so this speaks just that much HTTP/1.1 (Content-Length, chunked or read-to-close answers).
"""

from __future__ import annotations

import contextlib
import socket
import ssl
from urllib.parse import urlsplit

_MAX_LINE = 65536
_MAX_HEADERS = 100
# Errors after which a POST on a reused keep-alive connection is tried once more on a fresh one: the app
# closed the idle connection before it read the request.
_STALE = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError)


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
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._head = (
            f"POST {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nUser-Agent: facebookexternalua\r\n"
            "Content-Type: application/json\r\nAccept: */*\r\n"
        ).encode("latin-1")
        self._sock: socket.socket | None = None
        self._reader = None

    def post(self, body: bytes, signature: str) -> int:
        """POST `body` signed with `signature`; return the answer's status code (OSError/CallbackError on failure)."""
        request = b"".join(
            (
                self._head,
                b"X-Hub-Signature-256: ",
                signature.encode("latin-1"),
                b"\r\nContent-Length: ",
                str(len(body)).encode(),
                b"\r\n\r\n",
                body,
            )
        )
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
            parts = line.split(None, 2)
            if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
                raise CallbackError(f"not an HTTP answer: {line[:80]!r}")
            status = int(parts[1])
            length, chunked, connection = None, False, b""
            for _ in range(_MAX_HEADERS):
                header = reader.readline(_MAX_LINE)
                if header in (b"\r\n", b"\n", b""):
                    break
                name, _, value = header.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value.strip())
                elif name == b"transfer-encoding":
                    chunked = b"chunked" in value.lower()
                elif name == b"connection":
                    connection = value.strip().lower()
            else:
                raise CallbackError("too many answer headers")
            if 100 <= status < 200:
                continue  # an interim answer (100 Continue); the final one follows
            keep_alive = connection != b"close" if parts[0] == b"HTTP/1.1" else connection == b"keep-alive"
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
