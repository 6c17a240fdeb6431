"""The simulator's one event loop: sockets (selectors), timers, per-pass tickers and calls from other threads.

The HTTP server's connections and the webhook dispatcher's callback connections all run on it, so the request
path never hands the GIL to another thread. Nothing on it may block.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import selectors
import socket
import threading
import time
from collections import deque
from collections.abc import Callable

logger = logging.getLogger(__name__)


class EventLoop:
    """Sockets and timers served by the one thread running `run()`; `call_soon_threadsafe` from any other."""

    def __init__(self):
        self.selector = selectors.DefaultSelector()
        self._timers: list = []
        self._sequence = itertools.count()
        self._calls: deque = deque()
        self._tickers: list[Callable[[], float | None]] = []
        self._waker, self._wake_end = socket.socketpair()
        self._waker.setblocking(False)
        self._wake_end.setblocking(False)
        self.selector.register(self._waker, selectors.EVENT_READ, self._drain_waker)
        self._thread: threading.Thread | None = None
        self._stop_requested = False
        self._stopped = threading.Event()
        self._stopped.set()

    def in_loop_thread(self) -> bool:
        """Whether the caller runs on the loop (or the loop is not running, so nothing races with it)."""
        return self._thread is None or self._thread is threading.current_thread()

    def call_later(self, delay: float, callback: Callable[[], None]) -> None:
        """Run `callback` on the loop after `delay` seconds (loop thread only)."""
        heapq.heappush(self._timers, (time.monotonic() + delay, next(self._sequence), callback))

    def add_ticker(self, ticker: Callable[[], float | None]) -> None:
        """Call `ticker` after every pass of the loop; it returns how soon (seconds) it wants the next call."""
        if ticker not in self._tickers:
            self._tickers.append(ticker)

    def call_soon_threadsafe(self, callback: Callable[[], None]) -> None:
        """Run `callback` on the loop soon; callable from any thread."""
        self._calls.append(callback)
        with contextlib.suppress(BlockingIOError, OSError):  # a full wake pipe already wakes the loop
            self._wake_end.send(b"\0")

    def _drain_waker(self, _events: int) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            while self._waker.recv(4096):
                pass

    def run(self, poll_interval: float) -> None:
        """Serve until `stop()` (at once if it was called already)."""
        self._thread = threading.current_thread()
        self._stopped.clear()
        select, timers, calls, tickers = self.selector.select, self._timers, self._calls, self._tickers
        wanted = poll_interval
        try:
            while not self._stop_requested:
                timeout = wanted
                if timers:
                    timeout = min(max(timers[0][0] - time.monotonic(), 0.0), timeout)
                if calls:
                    timeout = 0
                for key, events in select(timeout):
                    _guarded(key.data, events)
                if timers:
                    now = time.monotonic()
                    while timers and timers[0][0] <= now:
                        _guarded(heapq.heappop(timers)[2])
                while calls:
                    _guarded(calls.popleft())
                wanted = poll_interval
                for ticker in tickers:
                    soon = _guarded(ticker)
                    if soon is not None and soon < wanted:
                        wanted = max(soon, 0.0)
        finally:
            self._thread = None
            self._stopped.set()

    def stop(self) -> None:
        """Ask `run()` to return and wait until it has (returns at once when it is not running)."""
        self._stop_requested = True
        if self._thread is threading.current_thread():
            return
        self.call_soon_threadsafe(lambda: None)
        self._stopped.wait()

    def close(self) -> None:
        """Release the selector and the wake-up pipe."""
        self.selector.close()
        self._waker.close()
        self._wake_end.close()


def _guarded(callback: Callable, *args):
    """Run one callback of the loop; a bug in it is logged and must not stop the loop."""
    try:
        return callback(*args)
    except Exception:
        logger.exception("simulator event-loop callback %r failed", callback)
        return None
