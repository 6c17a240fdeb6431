"""Posts signed webhooks to the app from a time-ordered queue, with Meta-like retries, off the request path.

A heap holds the jobs ordered by due time. The simulator's event loop (event_loop.EventLoop) calls
`_pump` after every pass: while fewer than `webhook_threads` POSTs are in flight, it takes what is due and
posts it on an idle keep-alive connection to the callback URL (non-blocking, on the loop, so posting takes
no thread switches from the request path; an https URL is posted from a small thread pool instead). A POST
answered with anything but 200 (or not answered) is retried with exponential backoff, up to
`webhook_max_retries` times, like Meta (which retries for up to 7 days; bounded here).

Batching: statuses of one phone number due together go in one POST when `webhook_batch_max` > 1 (a fault
mode). Independently, when posting falls behind (the oldest due job is more than
`webhook_auto_batch_lag_ms` late), one POST takes up to `webhook_auto_batch_max` overdue statuses of that
number, as Meta batches under load ("Graph webhooks may batch up to 1,000 updates"); when posting keeps
up, each status has its own POST. Status items arrive already JSON-encoded (see
`webhook_payloads.MessageStatuses`), so a batch body is the number's envelope around the joined items.
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from .callback_connection import CallbackConnection, CallbackError, LoopCallbackConnection
from .config import SimulatorConfig
from .event_loop import EventLoop
from .webhook_payloads import signature_header, statuses_envelope_parts

logger = logging.getLogger(__name__)
# Bounds the heap entries a worker looks through for one batch (other numbers' jobs are put back).
_BATCH_SCAN_FACTOR = 4


@dataclass(slots=True)
class WebhookJob:
    """One webhook item: a JSON-encoded status of a phone number (batchable) or a whole document."""

    phone_number_id: str | None = None
    status: bytes | None = None
    document: dict | None = None
    duplicate: bool = False


@dataclass(slots=True)
class _Delivery:
    """One POST: its signed body and how many times it was tried."""

    body: bytes
    signature: str
    jobs: int
    duplicate: bool
    attempt: int = 0
    is_duplicate_copy: bool = False


@dataclass
class WebhookCounters:
    """Counts for `/_sim/stats`; updated under the dispatcher's lock."""

    posted: int = 0
    failed_attempts: int = 0
    retried: int = 0
    given_up: int = 0
    pending_jobs: int = 0
    items_delivered: int = 0
    duplicates_posted: int = 0
    auto_batched_posts: int = 0
    last_error: str | None = None
    by_status_code: dict = field(default_factory=dict)


class WebhookDispatcher:
    """A heap of due jobs, posted from the event loop with at most `threads` POSTs in flight."""

    def __init__(
        self,
        config: Callable[[], SimulatorConfig],
        display_phone_number: Callable[[str], str],
        threads: int,
        loop: EventLoop,
    ):
        self._config = config
        self._display_phone_number = display_phone_number
        self._loop = loop
        self._heap: list = []
        self._sequence = itertools.count()
        self._lock = threading.Lock()
        self._stopping = False
        self._generation = 0
        self._envelopes: dict[tuple[str, str], tuple[bytes, bytes]] = {}
        self.counters = WebhookCounters()
        self._free_slots = max(1, threads)
        self._idle: list[LoopCallbackConnection] = []
        self._busy: set[LoopCallbackConnection] = set()
        self._pool: ThreadPoolExecutor | None = None  # posts to https URLs, one blocking connection per thread
        self._pool_size = max(1, threads)
        self._pool_connections = threading.local()

    def start(self) -> None:
        """Post from the event loop from now on."""
        self._stopping = False
        self._loop.add_ticker(self._pump)

    def stop(self, grace_seconds: float = 2.0) -> None:
        """Stop posting; jobs still queued are abandoned, POSTs in flight get `grace_seconds` to be answered."""
        self._stopping = True
        if self._loop.in_loop_thread():  # the loop is not running: nothing in flight can finish
            self.close()
            return
        answered = threading.Event()
        deadline = time.monotonic() + grace_seconds

        def check() -> None:
            if not self._busy or time.monotonic() > deadline:
                answered.set()
            else:
                self._loop.call_later(0.005, check)

        self._loop.call_soon_threadsafe(check)
        answered.wait(grace_seconds + 1)

    def close(self) -> None:
        """Close the callback connections (once the loop has stopped, or from it)."""
        for connection in [*self._idle, *self._busy]:
            connection.close()
        self._idle.clear()
        self._busy.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    def clear(self) -> None:
        """Forget every queued job (used by `/_sim/reset`); POSTs in flight finish uncounted."""
        with self._lock:
            self._heap.clear()
            self._generation += 1
            self.counters = WebhookCounters()

    def schedule(self, jobs: list[tuple[float, WebhookJob]]) -> None:
        """Queue jobs at their due times (time.monotonic() seconds)."""
        if not jobs:
            return
        heap = self._heap
        sequence = self._sequence
        with self._lock:
            for due, job in jobs:
                heapq.heappush(heap, (due, next(sequence), job))
            self.counters.pending_jobs += len(jobs)
        if not self._loop.in_loop_thread():
            self._loop.call_soon_threadsafe(_nothing)  # the loop may be waiting past the new due time

    def pending(self) -> int:
        """Jobs queued or in flight that have not been answered 200 nor given up."""
        with self._lock:
            return self.counters.pending_jobs

    def _pump(self) -> float | None:
        """Post what is due while POST slots are free; seconds until the next job is due (None: no wish)."""
        heap = self._heap
        if self._stopping or not heap:
            return None
        now = time.monotonic()
        if heap[0][0] > now:
            return heap[0][0] - now
        if not self._free_slots:
            return None  # an answer, an event on the loop, frees a slot
        taken = []
        with self._lock:
            while self._free_slots and heap and heap[0][0] <= now:
                taken.append(self._pop_batch(now))
                self._free_slots -= 1
            generation = self._generation
        config = self._config()
        for item in taken:
            self._post(generation, self._delivery_for(item), config)
        if heap and self._free_slots:
            return max(heap[0][0] - now, 0.0)
        return None

    def _post(self, generation: int, delivery: _Delivery, config: SimulatorConfig) -> None:
        url, timeout = config.callback_url, config.webhook_timeout_ms / 1000
        if url.startswith("https:"):
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self._pool_size, thread_name_prefix="sim-webhook")
            self._pool.submit(self._post_blocking, generation, delivery, url, timeout)
            return
        connection = None
        while self._idle:
            connection = self._idle.pop()
            if connection.url == url and connection.timeout == timeout:
                break
            connection.close()
            connection = None
        if connection is None:
            connection = LoopCallbackConnection(self._loop, url, timeout)
        self._busy.add(connection)

        def answered(status: int | None, error: str | None) -> None:
            self._busy.discard(connection)
            if self._stopping:
                connection.close()
            else:
                self._idle.append(connection)
            self._free_slots += 1
            self._record(generation, delivery, status, error)

        connection.post(delivery.body, delivery.signature, answered)

    def _post_blocking(self, generation: int, delivery: _Delivery, url: str, timeout: float) -> None:
        """On a pool thread: POST over this thread's blocking (TLS) connection, then record on the loop."""
        connection = getattr(self._pool_connections, "connection", None)
        if connection is None or connection.url != url or connection.timeout != timeout:
            if connection is not None:
                connection.close()
            connection = self._pool_connections.connection = CallbackConnection(url, timeout)
        try:
            status, error = connection.post(delivery.body, delivery.signature), None
        except (OSError, CallbackError) as failure:
            status, error = None, f"{type(failure).__name__}: {failure}"

        def answered() -> None:
            self._free_slots += 1
            self._record(generation, delivery, status, error)

        self._loop.call_soon_threadsafe(answered)

    def _pop_batch(self, now: float):
        """Pop the head; for statuses, also those of the same number that may share its POST."""
        heap = self._heap
        due, _, head = heapq.heappop(heap)
        if not isinstance(head, WebhookJob) or head.status is None:
            return head
        config = self._config()
        limit = config.webhook_batch_max
        horizon = due + config.webhook_batch_window_ms / 1000 if limit > 1 else now
        auto = now - due > config.webhook_auto_batch_lag_ms / 1000 and config.webhook_auto_batch_max > limit
        if auto:
            limit = config.webhook_auto_batch_max
        if limit <= 1 or not heap:
            return [head]
        horizon = max(now, horizon)
        statuses, others = [head], []
        scan_budget = limit * _BATCH_SCAN_FACTOR
        phone_number_id = head.phone_number_id
        while heap and len(statuses) < limit and scan_budget > 0 and heap[0][0] <= horizon:
            scan_budget -= 1
            entry = heapq.heappop(heap)
            job = entry[2]
            if isinstance(job, WebhookJob) and job.status is not None and job.phone_number_id == phone_number_id:
                statuses.append(job)
            else:
                others.append(entry)
        for entry in others:
            heapq.heappush(heap, entry)
        if auto and len(statuses) > 1:
            self.counters.auto_batched_posts += 1
        return statuses

    def _delivery_for(self, item) -> _Delivery:
        if isinstance(item, _Delivery):
            return item
        config = self._config()
        jobs = item if isinstance(item, list) else [item]
        first = jobs[0]
        if first.document is not None:
            body = json.dumps(first.document, separators=(",", ":")).encode()
        else:
            prefix, suffix = self._envelope(config.waba_id, first.phone_number_id)
            body = b"".join((prefix, b",".join([job.status for job in jobs]), suffix))
        duplicate = False
        for job in jobs:
            duplicate = duplicate or job.duplicate
        return _Delivery(body, signature_header(config.app_secret, body), len(jobs), duplicate)

    def _envelope(self, waba_id: str, phone_number_id: str) -> tuple[bytes, bytes]:
        key = (waba_id, phone_number_id)
        parts = self._envelopes.get(key)
        if parts is None:
            parts = self._envelopes[key] = statuses_envelope_parts(
                waba_id, phone_number_id, self._display_phone_number(phone_number_id)
            )
        return parts

    def _record(self, generation: int, delivery: _Delivery, status: int | None, error: str | None) -> None:
        config = self._config()
        with self._lock:
            if generation != self._generation:
                return
            counters = self.counters
            key = str(status) if status is not None else "no_answer"
            counters.by_status_code[key] = counters.by_status_code.get(key, 0) + 1
            if status == 200:
                counters.posted += 1
                if delivery.is_duplicate_copy:
                    counters.duplicates_posted += 1
                    return
                counters.items_delivered += delivery.jobs
                counters.pending_jobs -= delivery.jobs
                if delivery.duplicate:
                    copy = _Delivery(delivery.body, delivery.signature, delivery.jobs, False, is_duplicate_copy=True)
                    self._push(time.monotonic() + 0.005, copy)
                return
            counters.failed_attempts += 1
            counters.last_error = error or f"HTTP {status}"
            if delivery.attempt >= config.webhook_max_retries:
                counters.given_up += 1
                if not delivery.is_duplicate_copy:
                    counters.pending_jobs -= delivery.jobs
                logger.warning("webhook given up after %d attempts: %s", delivery.attempt + 1, counters.last_error)
                return
            delay_ms = min(config.webhook_retry_base_ms * 2**delivery.attempt, config.webhook_retry_max_ms)
            delivery.attempt += 1
            counters.retried += 1
            self._push(time.monotonic() + delay_ms / 1000, delivery)

    def _push(self, due: float, item) -> None:
        """Push under the held lock (a retry or a duplicate copy); the loop's next pump sees it."""
        heapq.heappush(self._heap, (due, next(self._sequence), item))


def _nothing() -> None:
    """A call that only wakes the event loop."""
