"""The simulator as a whole: HTTP server, state and webhook dispatcher, plus the API-level faults."""

from __future__ import annotations

import logging
import threading
import time

from .config import SimulatorConfig
from .control_api import handle_control
from .graph_api import VERSION_SEGMENT, handle_graph
from .http_server import LeanHTTPServer, Reply, Request
from .state import SimulatorState
from .webhook_dispatcher import WebhookDispatcher

logger = logging.getLogger(__name__)

_SERVER_ERROR_GRAPH = (
    b'{"error":{"message":"An unexpected error has occurred. Please retry your request later.",'
    b'"type":"OAuthException","code":2,"is_transient":true,"fbtrace_id":"Asimulated500"}}'
)


class Simulator:
    """A fake Cloud API on a loopback port: `start()` in a thread, or `serve_forever()`; `stop()` ends it."""

    def __init__(self, config: SimulatorConfig):
        self.stopping = threading.Event()
        self.state = SimulatorState(config)
        self.http = LeanHTTPServer((config.host, config.port), self.handle, self.stopping)
        self.dispatcher = WebhookDispatcher(
            lambda: self.state.config, self.state.display_phone_number, config.webhook_threads, self.http.loop
        )
        self._serving: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port (useful when started on port 0)."""
        return self.http.server_address[1]

    @property
    def base_url(self) -> str:
        """`http://host:port`, what the product's API base URL setting points at."""
        return f"http://{self.state.config.host}:{self.port}"

    def start(self) -> Simulator:
        """Serve in a background thread."""
        self.dispatcher.start()
        self._serving = threading.Thread(target=self.http.serve_forever, args=(0.05,), name="sim-http", daemon=True)
        self._serving.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until `stop()` (from a signal handler or another thread)."""
        self.dispatcher.start()
        self.http.serve_forever(poll_interval=0.1)

    def stop(self) -> None:
        """Stop serving, end open connections and hung faults, stop the dispatcher."""
        self.stopping.set()
        self.dispatcher.stop()  # first, while the loop still runs the POSTs in flight
        self.http.shutdown()
        self.http.server_close()
        self.http.close_connections()
        self.dispatcher.close()
        self.http.loop.close()

    def handle(self, request: Request) -> Reply:
        """Route a request: `/_sim/*` control endpoints, or Graph endpoints with the configured faults."""
        segments = [segment for segment in request.path.split("/") if segment]
        if segments and segments[0] == "_sim":
            return handle_control(self.state, self.dispatcher, request, "/".join(segments[1:]))
        if segments and VERSION_SEGMENT.match(segments[0]):
            segments = segments[1:]
        state = self.state
        slow = reset = server_error = timeout = False
        with state.lock:
            config = state.config
            state.stats.requests += 1
            # Faults draw from their own generator, and only when some fault is configured.
            if config.slow_share or config.reset_share or config.http_500_share or config.timeout_after_accept_share:
                random = state.fault_rng.random
                slow = random() < config.slow_share
                reset = random() < config.reset_share
                server_error = random() < config.http_500_share
                timeout = random() < config.timeout_after_accept_share
                faults = state.stats.faults
                faults["slow"] += slow
                faults["reset"] += reset
                faults["http_500"] += server_error and not reset
        delay_ms = config.latency_ms + (config.slow_ms if slow else 0)
        if delay_ms > 0:  # the event loop must not block: answer from a timer
            return Reply(
                action="delay",
                hang_seconds=delay_ms / 1000,
                resume=lambda: self._answer_graph(request, segments, config, reset, server_error, timeout),
            )
        return self._answer_graph(request, segments, config, reset, server_error, timeout)

    def _answer_graph(self, request, segments, config, reset: bool, server_error: bool, timeout: bool) -> Reply:
        if config.log_requests:
            logger.info("%s %s", request.method, request.path)
        if reset:
            return Reply(action="reset")
        if server_error:
            if config.http_500_graph_body:
                return Reply(500, _SERVER_ERROR_GRAPH)
            return Reply(500, b"<html><body>Internal Server Error</body></html>", "text/html")
        started = time.perf_counter()
        reply = handle_graph(self.state, self.dispatcher, request, segments, timeout)
        if config.log_requests:
            logger.info("-> %s in %.1f ms", reply.status, (time.perf_counter() - started) * 1000)
        return reply
