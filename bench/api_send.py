"""Integration API throughput and latency, and how long an API send waits behind a 100,000-recipient campaign.

Usage: .venv/bin/python bench/api_send.py [--seconds 6] [--clients 8] [--recipients 100000] [--postgres]

Everything on loopback, in a temporary directory (SQLite by default; --postgres uses DATABASE_URL, e.g. a
throwaway server: `.venv/bin/python tests/postgres_server.py -- .venv/bin/python bench/api_send.py --postgres`):

1. gunicorn with 2 workers (`--no-control-socket`), no qcluster: accepted `POST /api/v1/messages` per second
   (each with its own Idempotency-Key) and p99 latency, beside `GET /api/v1/ping` — the bare authenticated
   view (same key lookup and rate-limit counter) — driven the same way in the same run, alternating.
2. The simulator, a qcluster and a launched campaign of `--recipients` opted-in contacts: once the campaign
   is sending, API sends are posted one by one; for each, the time from acceptance (the row's created_at) to
   the simulator's acceptance (accepted_at) is the wait. The campaign is cancelled afterwards.

Prints one JSON object. Bounded: the load phases run a fixed time, every wait has a deadline.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.e2e.processes import MANAGE, free_port, wait_until  # noqa: E402

SETUP = """
import json, os
from django.utils import timezone
from contacts.models import Contact
from deliveries.api.keys import api_key_create
from templates_app.models import MessageTemplate
from wacampaigns.models import BusinessAccount, Campaign, MetaApp, PhoneNumber
p = json.loads(os.environ["BENCH"])
app = MetaApp.objects.create(name="sim", app_id="300000000000001", app_secret="simulator-app-secret",
                             webhook_verify_token="verify")
account = BusinessAccount.objects.create(meta_app=app, name="sim", waba_id="200000000000001",
    access_token="simulator-access-token", graph_api_base_url=p["base_url"], graph_api_version="v23.0",
    messaging_limit_tier="TIER_UNLIMITED")
number = PhoneNumber.objects.create(business_account=account, phone_number_id="100000000000001",
    display_phone_number="15550100001", throughput_limit=p["throughput"])
MessageTemplate.objects.create(business_account=account, name="order_update", language="en_US", category="UTILITY",
    status="APPROVED", parameter_format="NAMED",
    components=[{"type": "BODY", "text": "Hello {{first_name}}, your order {{order_number}} has shipped."}])
MessageTemplate.objects.create(business_account=account, name="spring_sale", language="en_US", category="MARKETING",
    status="APPROVED", components=[{"type": "BODY", "text": "Hi {{1}}, use {{2}}"}])
now = timezone.now()
Contact.objects.bulk_create([Contact(phone=f"+3460{i:07d}", name=f"P{i}", marketing_consent="opted_in",
    marketing_consent_source="import", marketing_consent_at=now) for i in range(p["recipients"])], batch_size=5000)
campaign = Campaign.objects.create(name="bench", sender=number, template_name="spring_sale", concurrency=2,
    variable_mapping={"body.1": {"source": "contact_field", "value": "name"},
                      "body.2": {"source": "constant", "value": "SPRING20"}})
print(json.dumps({"key": api_key_create(name="bench", business_account=account)[1], "campaign": campaign.pk}))
"""


class Processes:
    def __init__(self, directory: Path, env: dict[str, str]):
        self.directory, self.env, self.running = directory, env, []

    def manage(self, *args: str, extra: dict[str, str] | None = None) -> str:
        done = subprocess.run(
            [sys.executable, MANAGE, *args],
            env={**self.env, **(extra or {})},
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if done.returncode:
            raise RuntimeError(done.stderr[-2000:])
        return done.stdout

    def spawn(self, name: str, *command: str) -> None:
        log = (self.directory / f"{name}.log").open("wb")
        self.running.append(
            subprocess.Popen(
                command, env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        )

    def close(self) -> None:
        for process in reversed(self.running):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def load(url: str, *, method: str, key: str, body: dict | None, seconds: float, clients: int) -> dict:
    """`clients` threads, each with a keep-alive session, for `seconds`: answers/s (2xx only) and latencies."""
    deadline = time.monotonic() + seconds
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()

    def client(index: int) -> None:
        session = requests.Session()
        headers = {"Authorization": f"Bearer {key}"}
        n = 0
        while time.monotonic() < deadline:
            n += 1
            if body is not None:
                headers["Idempotency-Key"] = f"{index}-{n}-{uuid.uuid4().hex[:8]}"
                payload = {**body, "to": f"+3461{index:02d}{n % 100000:05d}"}
            started = time.perf_counter()
            response = session.request(
                method, url, json=payload if body is not None else None, headers=headers, timeout=30
            )
            elapsed = time.perf_counter() - started
            with lock:
                if 200 <= response.status_code < 300:
                    latencies.append(elapsed)
                else:
                    errors[0] += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    duration = time.monotonic() - started
    latencies.sort()
    return {
        "per_s": round(len(latencies) / duration, 1),
        "p50_ms": round(1000 * statistics.median(latencies), 1) if latencies else None,
        "p99_ms": round(1000 * latencies[int(0.99 * (len(latencies) - 1))], 1) if latencies else None,
        "errors": errors[0],
    }


def query(database: str, sql: str) -> int:
    if database.startswith("postgres"):
        import psycopg

        with psycopg.connect(database.replace("postgres://", "postgresql://")) as connection:
            return connection.execute(sql).fetchone()[0]
    with contextlib.closing(sqlite3.connect(database.removeprefix("sqlite:///"), timeout=30)) as connection:
        return connection.execute(sql).fetchone()[0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=6)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--throughput", type=int, default=200, help="The sender number's messages/s.")
    parser.add_argument("--probes", type=int, default=10, help="API sends measured during the campaign.")
    parser.add_argument("--postgres", action="store_true", help="Use DATABASE_URL (PostgreSQL) instead of SQLite.")
    options = parser.parse_args()
    if options.postgres and not os.environ.get("DATABASE_URL"):
        parser.error("--postgres needs DATABASE_URL; run it under tests/postgres_server.py (see the usage above)")

    with tempfile.TemporaryDirectory(prefix="bench-api-") as directory:
        directory = Path(directory)
        web_port, simulator_port = free_port(), free_port()
        database = os.environ["DATABASE_URL"] if options.postgres else f"sqlite:///{directory / 'bench.sqlite3'}"
        env = {
            **os.environ,
            "DATABASE_URL": database,
            "WACAMPAIGNS_IGNORE_DOTENV": "true",
            "DEBUG": "false",
            "SECRET_KEY": "bench-secret-key-0123456789-bench-secret-key-0123456789",
            "SECRETS_ENCRYPTION_KEYS": "pJ3mM0r2m2tQeVvQ6n5Yb4X4lq9l2u8Wcz5K1s0hF1A=",
            "ERASURE_HASH_KEY": "bench",
            "ALLOWED_HOSTS": "127.0.0.1",
            "SECURE_SSL_REDIRECT": "false",
            "STATIC_MANIFEST": "false",
            "API_RATE_LIMIT_PER_MINUTE": "100000000",
            "LOG_LEVEL": "WARNING",
            "Q_WORKERS": "2",
        }
        processes = Processes(directory, env)
        try:
            processes.manage("migrate", "--no-input")
            processes.manage("createcachetable")
            simulator_url = f"http://127.0.0.1:{simulator_port}"
            setup = json.loads(
                processes.manage(
                    "shell",
                    "-c",
                    SETUP,
                    extra={
                        "BENCH": json.dumps(
                            {
                                "base_url": simulator_url,
                                "recipients": options.recipients,
                                "throughput": options.throughput,
                            }
                        )
                    },
                )
                .strip()
                .splitlines()[-1]
            )
            processes.spawn(
                "web",
                sys.executable,
                "-m",
                "gunicorn",
                "wacampaigns.wsgi",
                "--bind",
                f"127.0.0.1:{web_port}",
                "--workers",
                "2",
                "--no-control-socket",
            )
            api = f"http://127.0.0.1:{web_port}/api/v1"
            key = setup["key"]
            wait_until(lambda: requests.get(f"{api}/ping", timeout=2).status_code == 401, timeout=30, what="gunicorn")
            send = {"template": {"name": "order_update"}, "parameters": {"first_name": "Ana", "order_number": "1"}}
            load(f"{api}/ping", method="GET", key=key, body=None, seconds=1, clients=options.clients)  # warm-up
            runs = {"bare": [], "send": []}
            for _ in range(2):
                runs["bare"].append(
                    load(
                        f"{api}/ping",
                        method="GET",
                        key=key,
                        body=None,
                        seconds=options.seconds,
                        clients=options.clients,
                    )
                )
                runs["send"].append(
                    load(
                        f"{api}/messages",
                        method="POST",
                        key=key,
                        body=send,
                        seconds=options.seconds,
                        clients=options.clients,
                    )
                )
            bare = max(run["per_s"] for run in runs["bare"])
            accepted = max(run["per_s"] for run in runs["send"])

            # Phase 2: an API send while the campaign is sending.
            processes.manage("shell", "-c", "from deliveries.models import Delivery; Delivery.objects.all().delete()")
            processes.spawn(
                "simulator",
                sys.executable,
                MANAGE,
                "simulate_cloud_api",
                "--port",
                str(simulator_port),
                "--callback-url",
                f"http://127.0.0.1:{web_port}/webhooks/whatsapp/",
                "--throughput",
                str(options.throughput),
            )
            wait_until(
                lambda: requests.get(f"{simulator_url}/_sim/stats", timeout=2).ok, timeout=30, what="the simulator"
            )
            processes.spawn("qcluster", sys.executable, MANAGE, "qcluster")
            processes.manage(
                "shell",
                "-c",
                "from wacampaigns.models import Campaign; from wacampaigns.services "
                f"import campaign_launch; campaign_launch(campaign=Campaign.objects.get(pk={setup['campaign']}))",
            )
            headers = {"Authorization": f"Bearer {key}"}
            session = requests.Session()

            def campaign_sent() -> int:
                sql = (
                    "SELECT COUNT(*) FROM deliveries_delivery WHERE campaign_id IS NOT NULL AND accepted_at IS NOT NULL"
                )
                return query(database, sql)

            wait_until(lambda: campaign_sent() >= 200, timeout=180, what="the campaign to be sending", interval=1)
            waits = []
            for n in range(options.probes):
                answer = session.post(
                    f"{api}/messages", json={**send, "to": f"+3462{n:07d}"}, headers=headers, timeout=30
                ).json()
                message = wait_until(
                    lambda answer=answer: (
                        lambda m: m if m["accepted_at"] or m["status"] in ("failed", "skipped") else None
                    )(session.get(f"{api}/messages/{answer['id']}", headers=headers, timeout=10).json()),
                    timeout=60,
                    what="the API send to be accepted",
                    interval=0.05,
                )
                if message["accepted_at"]:
                    waits.append(
                        (
                            datetime.fromisoformat(message["accepted_at"])
                            - datetime.fromisoformat(message["created_at"])
                        ).total_seconds()
                    )
            campaign_progress = campaign_sent()
        finally:
            processes.close()

    print(
        json.dumps(
            {
                "benchmark": "api_send",
                "cores": os.cpu_count(),
                "database": "postgresql" if options.postgres else "sqlite",
                "web_workers": 2,
                "clients": options.clients,
                "bare_authenticated_view_per_s": bare,
                "accepted_sends_per_s": accepted,
                "ratio_to_bare": round(accepted / bare, 2) if bare else None,
                "send_p99_ms": min(run["p99_ms"] for run in runs["send"]),
                "bare_p99_ms": min(run["p99_ms"] for run in runs["bare"]),
                "runs": runs,
                "during_campaign": {
                    "recipients": options.recipients,
                    "campaign_messages_accepted_when_done": campaign_progress,
                    "api_send_wait_s": {
                        "n": len(waits),
                        "median": round(statistics.median(waits), 3) if waits else None,
                        "max": round(max(waits), 3) if waits else None,
                    },
                },
                "targets": {"ratio_to_bare": ">= 0.5", "send_p99_ms": "<= 250", "api_send_wait_s_max": "<= 2"},
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
