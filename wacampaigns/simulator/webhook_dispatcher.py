"""Posts signed webhooks to the app from a time-ordered queue, with Meta-like retries, off the request path.

A heap holds the jobs ordered by due time; a small pool of workers, each with its own keep-alive connection
to the callback URL, takes what is due and posts it. A POST answered with anything but 200 (or not answered)
is retried with exponential backoff, up to `webhook_max_retries` times, like Meta (which retries for up to
7 days; bounded here).

Batching: statuses of one phone number due together go in one POST when `webhook_batch_max` > 1 (a fault
mode). Independently, when the workers fall behind (the oldest due job is more than
`webhook_auto_batch_lag_ms` late), a worker takes up to `webhook_auto_batch_max` overdue statuses of that
number in one POST, as Meta batches under load ("Graph webhooks may batch up to 1,000 updates"); when the
workers keep up, each status has its own POST. Status items arrive already JSON-encoded (see
`webhook_payloads.status_item_json`), so a batch body is the number's envelope around the joined items.
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .callback_connection import CallbackConnection, CallbackError
from .config import SimulatorConfig
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
    """A heap of due jobs and a pool of posting workers."""

    def __init__(
        self,
        config: Callable[[], SimulatorConfig],
        display_phone_number: Callable[[str], str],
        threads: int,
    ):
        self._config = config
        self._display_phone_number = display_phone_number
        self._heap: list = []
        self._sequence = itertools.count()
        self._condition = threading.Condition()
        self._stopping = False
        self._generation = 0
        self._envelopes: dict[tuple[str, str], tuple[bytes, bytes]] = {}
        self.counters = WebhookCounters()
        self._threads = [
            threading.Thread(target=self._post_loop, name=f"sim-webhook-{index}", daemon=True)
            for index in range(max(1, threads))
        ]

    def start(self) -> None:
        """Start the workers."""
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Stop every worker; jobs still queued are abandoned."""
        with self._condition:
            self._stopping = True
            self._condition.notify_all()
        for thread in self._threads:
            if thread.is_alive():
                thread.join(timeout=5)

    def clear(self) -> None:
        """Forget every queued job (used by `/_sim/reset`); POSTs in flight finish uncounted."""
        with self._condition:
            self._heap.clear()
            self._generation += 1
            self.counters = WebhookCounters()

    def schedule(self, jobs: list[tuple[float, WebhookJob]]) -> None:
        """Queue jobs at their due times (time.monotonic() seconds)."""
        if not jobs:
            return
        heap = self._heap
        with self._condition:
            head = heap[0] if heap else None
            for due, job in jobs:
                heapq.heappush(heap, (due, next(self._sequence), job))
            self.counters.pending_jobs += len(jobs)
            if heap[0] is not head:  # a waiting worker may now have to wake earlier
                self._condition.notify()

    def pending(self) -> int:
        """Jobs queued or in flight that have not been answered 200 nor given up."""
        with self._condition:
            return self.counters.pending_jobs

    def _next_due(self) -> tuple[int, object] | None:
        """Wait for the next due job (or batch); None when stopping."""
        heap = self._heap
        with self._condition:
            while not self._stopping:
                if heap:
                    now = time.monotonic()
                    due = heap[0][0]
                    if due <= now:
                        taken = self._pop_batch(now)
                        if heap and heap[0][0] <= now:
                            self._condition.notify()  # more is due: another worker can post it meanwhile
                        return self._generation, taken
                    self._condition.wait(due - now)
                else:
                    self._condition.wait()
            return None

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

    def _post_loop(self) -> None:
        connection: CallbackConnection | None = None
        try:
            while True:
                taken = self._next_due()
                if taken is None:
                    return
                generation, item = taken
                delivery = self._delivery_for(item)
                config = self._config()
                timeout = config.webhook_timeout_ms / 1000
                if connection is None or connection.url != config.callback_url or connection.timeout != timeout:
                    if connection is not None:
                        connection.close()
                    connection = CallbackConnection(config.callback_url, timeout)
                try:
                    status, error = connection.post(delivery.body, delivery.signature), None
                except (OSError, CallbackError) as failure:
                    status, error = None, f"{type(failure).__name__}: {failure}"
                self._record(generation, delivery, status, error)
        finally:
            if connection is not None:
                connection.close()

    def _record(self, generation: int, delivery: _Delivery, status: int | None, error: str | None) -> None:
        config = self._config()
        with self._condition:
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
        """Push under the held condition, waking a worker if the head changed."""
        heap = self._heap
        head = heap[0] if heap else None
        heapq.heappush(heap, (due, next(self._sequence), item))
        if heap[0] is not head:
            self._condition.notify()
