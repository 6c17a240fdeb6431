"""Posts signed webhooks to the app from a time-ordered queue, with Meta-like retries, off the request path.

One scheduler thread owns a heap of jobs ordered by due time; a small pool of workers, each with its own
keep-alive connection to the callback URL, posts them. A POST answered with anything but 200 (or not
answered) is retried with exponential backoff, up to `webhook_max_retries` times, like Meta (which retries
for up to 7 days; bounded here). Status jobs due together for the same phone number are sent in one POST
when `webhook_batch_max` > 1.
"""

from __future__ import annotations

import heapq
import http.client
import itertools
import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from .config import SimulatorConfig
from .webhook_payloads import messages_envelope, signature_header

logger = logging.getLogger(__name__)
_STALE_CONNECTION = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)


@dataclass
class WebhookJob:
    """One webhook item: a status for a phone number (batchable) or a whole document."""

    phone_number_id: str | None = None
    status: dict | None = None
    document: dict | None = None
    duplicate: bool = False


@dataclass
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
    last_error: str | None = None
    by_status_code: dict = field(default_factory=dict)


class WebhookDispatcher:
    """A heap of due jobs, a scheduler thread and a pool of posting workers."""

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
        self._work: queue.SimpleQueue = queue.SimpleQueue()
        self._stopping = False
        self._generation = 0
        self.counters = WebhookCounters()
        self._threads = [threading.Thread(target=self._schedule_loop, name="sim-webhook-scheduler", daemon=True)]
        self._threads += [
            threading.Thread(target=self._post_loop, name=f"sim-webhook-{index}", daemon=True)
            for index in range(max(1, threads))
        ]

    def start(self) -> None:
        """Start the scheduler and the workers."""
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Stop every thread; jobs still queued are abandoned."""
        with self._condition:
            self._stopping = True
            self._condition.notify_all()
        for _ in self._threads[1:]:
            self._work.put(None)
        for thread in self._threads:
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
        with self._condition:
            for due, job in jobs:
                heapq.heappush(self._heap, (due, next(self._sequence), job))
            self.counters.pending_jobs += len(jobs)
            self._condition.notify()

    def _schedule_loop(self) -> None:
        while True:
            with self._condition:
                while not self._stopping:
                    now = time.monotonic()
                    if self._heap and self._heap[0][0] <= now:
                        break
                    self._condition.wait(timeout=(self._heap[0][0] - now) if self._heap else None)
                if self._stopping:
                    return
                batch = self._pop_batch(now)
                generation = self._generation
            for item in batch:
                if isinstance(item, _Delivery):
                    self._work.put((generation, item))
                else:
                    self._work.put((generation, self._delivery_for(item)))

    def _pop_batch(self, now: float) -> list:
        """Pop the head; with batching, also the status jobs of the same number due within the window."""
        due, _, head = heapq.heappop(self._heap)
        config = self._config()
        if not isinstance(head, WebhookJob) or head.status is None or config.webhook_batch_max <= 1:
            return [head]
        horizon = max(now, due + config.webhook_batch_window_ms / 1000)
        statuses, others = [head], []
        while self._heap and len(statuses) < config.webhook_batch_max and self._heap[0][0] <= horizon:
            entry = heapq.heappop(self._heap)
            job = entry[2]
            if isinstance(job, WebhookJob) and job.status is not None and job.phone_number_id == head.phone_number_id:
                statuses.append(job)
            else:
                others.append(entry)
        for entry in others:
            heapq.heappush(self._heap, entry)
        return [statuses]

    def _delivery_for(self, item) -> _Delivery:
        jobs = item if isinstance(item, list) else [item]
        first = jobs[0]
        if first.document is not None:
            document = first.document
        else:
            document = messages_envelope(
                self._config().waba_id,
                first.phone_number_id,
                self._display_phone_number(first.phone_number_id),
                {"statuses": [job.status for job in jobs]},
            )
        body = json.dumps(document, separators=(",", ":")).encode()
        return _Delivery(
            body=body,
            signature=signature_header(self._config().app_secret, body),
            jobs=len(jobs),
            duplicate=any(job.duplicate for job in jobs),
        )

    def _post_loop(self) -> None:
        connection: http.client.HTTPConnection | None = None
        connection_target = None
        while True:
            item = self._work.get()
            if item is None:
                if connection is not None:
                    connection.close()
                return
            generation, delivery = item
            config = self._config()
            target = (config.callback_url, config.webhook_timeout_ms)
            if connection is None or connection_target != target:
                if connection is not None:
                    connection.close()
                connection, connection_target = _open_connection(config), target
            status, error = _post(connection, config.callback_url, delivery)
            self._record(generation, delivery, status, error)

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
                    heapq.heappush(self._heap, (time.monotonic() + 0.005, next(self._sequence), copy))
                    self._condition.notify()
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
            heapq.heappush(self._heap, (time.monotonic() + delay_ms / 1000, next(self._sequence), delivery))
            self._condition.notify()

    def pending(self) -> int:
        """Jobs queued or in flight that have not been answered 200 nor given up."""
        with self._condition:
            return self.counters.pending_jobs


def _open_connection(config: SimulatorConfig) -> http.client.HTTPConnection:
    parts = urlsplit(config.callback_url)
    connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    return connection_class(parts.hostname, parts.port, timeout=config.webhook_timeout_ms / 1000)


def _post(connection: http.client.HTTPConnection, url: str, delivery: _Delivery) -> tuple[int | None, str | None]:
    parts = urlsplit(url)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    headers = {
        "Content-Type": "application/json",
        "X-Hub-Signature-256": delivery.signature,
        "User-Agent": "facebookexternalua",
    }
    for attempt in range(2):  # a kept-alive connection the peer closed is reopened once
        try:
            connection.request("POST", path, body=delivery.body, headers=headers)
            response = connection.getresponse()
            response.read()
            if response.will_close:
                connection.close()
            return response.status, None
        except (OSError, http.client.HTTPException) as error:
            connection.close()
            if attempt == 1 or not isinstance(
                error, http.client.RemoteDisconnected | BrokenPipeError | ConnectionResetError
            ):
                return None, f"{type(error).__name__}: {error}"
    return None, "unreachable"
