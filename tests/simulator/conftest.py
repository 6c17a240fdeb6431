"""Fixtures for the simulator tests: the simulator in-process on a free loopback port and a webhook receiver."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

TOKEN = "simulator-access-token"
SECRET = "simulator-app-secret"
PHONE_NUMBER_ID = "100000000000001"
WABA_ID = "200000000000001"


def wait_until(predicate, timeout: float = 5.0, interval: float = 0.005):
    """Poll `predicate` until it returns something truthy; fail the test at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        threading.Event().wait(interval)


class WebhookReceiver:
    """A loopback HTTP server recording every POST; answers come from `answers` (then 200)."""

    def __init__(self):
        receiver = self
        self.posts: list[dict] = []
        self.answers: list[int] = []
        self.lock = threading.Lock()
        self.gate = threading.Event()  # cleared: POSTs wait (up to 5 s) before being answered
        self.gate.set()
        self.arrived = 0  # POSTs whose body was read, answered or not yet

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    receiver.arrived += 1
                receiver.gate.wait(timeout=5)
                with receiver.lock:
                    status = receiver.answers.pop(0) if receiver.answers else 200
                    receiver.posts.append(
                        {"raw": raw, "signature": self.headers.get("X-Hub-Signature-256"), "answered": status}
                    )
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhooks/whatsapp/"
        threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True).start()

    def documents(self, answered: int | None = 200) -> list[dict]:
        """Bodies of the POSTs (by default those answered 200), after checking each signature independently."""
        with self.lock:
            posts = list(self.posts)
        documents = []
        for post in posts:
            expected = "sha256=" + hmac.new(SECRET.encode(), post["raw"], hashlib.sha256).hexdigest()
            assert hmac.compare_digest(post["signature"], expected)
            if answered is None or post["answered"] == answered:
                documents.append(json.loads(post["raw"]))
        return documents

    def statuses(self) -> list[dict]:
        """Every statuses[] item received (answered 200), in arrival order."""
        return [
            status
            for document in self.documents()
            for entry in document["entry"]
            for change in entry["changes"]
            for status in change["value"].get("statuses", [])
        ]

    def template_events(self) -> list[dict]:
        """Every message_template_status_update value received (answered 200)."""
        return [
            change["value"]
            for document in self.documents()
            for entry in document["entry"]
            for change in entry["changes"]
            if change["field"] == "message_template_status_update"
        ]

    def contacts(self) -> list[dict]:
        """Every contacts[] item of inbound messages received (answered 200)."""
        return [
            contact
            for document in self.documents()
            for entry in document["entry"]
            for change in entry["changes"]
            for contact in change["value"].get("contacts", [])
        ]

    def inbound_messages(self) -> list[dict]:
        """Every messages[] item received (answered 200), in arrival order."""
        return [
            message
            for document in self.documents()
            for entry in document["entry"]
            for change in entry["changes"]
            for message in change["value"].get("messages", [])
        ]


@pytest.fixture
def receiver():
    receiver = WebhookReceiver()
    yield receiver
    receiver.gate.set()
    receiver.server.shutdown()
    receiver.server.server_close()


QUIET = {
    "fail_131026_share": 0.0,
    "fail_131049_share": 0.0,
    "fail_131050_share": 0.0,
    "reply_text_share": 0.0,
    "reply_stop_share": 0.0,
    "button_tap_share": 0.0,
    "read_share": 1.0,
    "sent_delay_ms": 5,
    "delivered_delay_ms": 10,
    "read_delay_ms": 15,
    "reply_delay_ms": 20,
    "template_review_ms": 20,
    "webhook_retry_base_ms": 10,
    "seed": 7,
}


@pytest.fixture
def simulator_defaults(receiver):
    """Quiet defaults (no random outcomes, ms delays), webhooks to the test's receiver."""
    return {**QUIET, "callback_url": receiver.url}


@pytest.fixture
def simulator(start_simulator):
    return start_simulator()


class GraphClient:
    """A keep-alive session against the simulator, with the bearer token."""

    def __init__(self, base_url: str):
        self.base_url = base_url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {TOKEN}"

    def post(self, path: str, **kwargs) -> requests.Response:
        return self.session.post(self.base_url + path, timeout=5, **kwargs)

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.session.get(self.base_url + path, timeout=5, **kwargs)

    def send(self, body: dict, phone_number_id: str = PHONE_NUMBER_ID) -> requests.Response:
        return self.post(f"/v25.0/{phone_number_id}/messages", json=body)

    def messages(self, since: int = 0) -> list[dict]:
        return self.get(f"/_sim/messages?since={since}").json()

    def stats(self) -> dict:
        return self.get("/_sim/stats").json()

    def configure(self, **changes) -> dict:
        response = self.post("/_sim/config", json=changes)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
def client(simulator):
    client = GraphClient(simulator.base_url)
    yield client
    client.session.close()


def template_body(
    to: str = "+16505551234",
    name: str = "spring_sale",
    language: str = "en_US",
    parameters=("Maria", "SPRING20"),
    opaque: str | None = "delivery-1",
) -> dict:
    """A send of a positional template with body text parameters."""
    body = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": "template",
        "template": {
            "name": name,
            "language": {"code": language},
            "components": [{"type": "body", "parameters": [{"type": "text", "text": value} for value in parameters]}],
        },
    }
    if opaque is not None:
        body["biz_opaque_callback_data"] = opaque
    return body


def graph_error(response: requests.Response) -> dict:
    """The `error` object of a Graph error answer, checked for Meta's shape."""
    error = response.json()["error"]
    assert {"message", "type", "code", "fbtrace_id"} <= set(error)
    return error
