"""A loopback HTTP server standing in for an event subscriber: records every POST, can refuse or be down."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from deliveries.api.events.signing import SIGNATURE_HEADER, event_signature_valid


class Subscriber:
    """`received` holds (event JSON, signature valid) of accepted POSTs; `refusals` counts the refused ones."""

    def __init__(self, secret: str, port: int = 0):
        self.secret = secret
        self.received: list[tuple[dict, bool]] = []
        self.refusals = 0
        self.status = 200
        self._lock = threading.Lock()
        subscriber = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                valid = event_signature_valid(subscriber.secret, body, self.headers.get(SIGNATURE_HEADER, ""))
                with subscriber._lock:
                    status = subscriber.status
                    if status < 300:
                        subscriber.received.append((json.loads(body), valid))
                    else:
                        subscriber.refusals += 1
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/events"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def types(self) -> list[str]:
        with self._lock:
            return [event["type"] for event, _ in self.received]
