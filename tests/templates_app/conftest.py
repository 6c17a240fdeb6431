"""Fixtures for template tests: the simulator in-process on a free port, an account pointing at it, and a
loopback server that serves Meta's template-list samples page by page."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from tests import factories
from wacampaigns.simulator.server import Simulator

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "whatsapp"
WABA_ID = "200000000000001"
APP_ID = "300000000000001"
PHONE_NUMBER_ID = "100000000000001"
TOKEN = "simulator-access-token"

QUIET = {
    "fail_131026_share": 0.0,
    "fail_131049_share": 0.0,
    "fail_131050_share": 0.0,
    "reply_text_share": 0.0,
    "reply_stop_share": 0.0,
    "button_tap_share": 0.0,
    "template_review_ms": 200,
    "webhooks_enabled": False,
}


def wait_until(predicate, *, timeout: float = 10.0, interval: float = 0.05):
    """Poll `predicate` until it returns something truthy; fail the test at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        threading.Event().wait(interval)


@pytest.fixture
def simulator_defaults():
    return QUIET


@pytest.fixture
def simulator(start_simulator):
    return start_simulator()


def sim_get(simulator: Simulator, path: str):
    return requests.get(simulator.base_url + path, timeout=5).json()


def account_for(base_url: str, *, waba_id: str = WABA_ID):
    """A business account (with its Meta app and sender number) whose Graph API is `base_url`."""
    business_account = factories.business_account(
        waba_id=waba_id,
        access_token=TOKEN,
        graph_api_base_url=base_url,
        graph_api_version="v23.0",
        meta_app=factories.meta_app(app_id=APP_ID),
    )
    factories.phone_number(business_account=business_account, phone_number_id=PHONE_NUMBER_ID)
    return business_account


@pytest.fixture
def sim_account(simulator):
    return account_for(simulator.base_url)


class PageServer:
    """Serves `pages` (a list of Graph list answers) at /v23.0/<waba>/message_templates, linking them with
    absolute `paging.next` URLs as Meta does; `pages` can be replaced between syncs."""

    def __init__(self):
        server = self
        self.pages: list[dict] = []
        self.requests: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                server.requests.append(self.path)
                page_number = int(self.path.partition("page=")[2].partition("&")[0] or 0)
                page = dict(server.pages[page_number])
                paging = dict(page.get("paging") or {})
                if page_number + 1 < len(server.pages):
                    paging["next"] = f"{server.base_url}/v23.0/{WABA_ID}/message_templates?page={page_number + 1}"
                page["paging"] = paging
                body = json.dumps(page).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.http.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.http.server_address[1]}"
        threading.Thread(target=self.http.serve_forever, args=(0.02,), daemon=True).start()


@pytest.fixture
def page_server():
    server = PageServer()
    yield server
    server.http.shutdown()
    server.http.server_close()


def sample(name: str) -> dict:
    return json.loads((SAMPLES / name).read_text())
