"""Status webhooks ingested per second over real HTTP (gunicorn, 2 workers), beside a bare Django view.

Usage: .venv/bin/python bench/webhook_ingest.py [--events 3000] [--concurrency 8] [--skip-postgres]
       [--drainer qcluster|command]

For SQLite and for a throwaway PostgreSQL (tests/postgres_server.py): migrate a fresh database, create one
Meta app, account, number and N accepted deliveries, start gunicorn (2 sync workers, loopback) and the drainer
as production runs it (`qcluster`, default settings: the POSTs wake the drainer task; or `manage.py
drain_webhooks`), then post N signed status webhooks, one status per POST as Meta mostly sends them, from
client threads in other processes. Throughput counts until the Delivery rows are updated (polled in the
database), not until the 200s; `drain_lag_ms` is the time from the last 200 to the last row updated. The
same clients post the same signed bodies to a bare view (answers 200, no database) under the same server,
with the drainer process running, in the same run: the baseline. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

from tests.postgres_server import throwaway_postgres  # noqa: E402

APP_SECRET = "bench-app-secret"
PHONE_NUMBER_ID = "100000000000001"
WABA_ID = "200000000000001"
T0 = 1_767_225_600
DEADLINE_SECONDS = 180

SETUP = """
from django.utils import timezone
from contacts.models import Contact
from deliveries.models import Delivery
from wacampaigns.models import BusinessAccount, MetaApp, PhoneNumber
app = MetaApp.objects.create(name="bench", app_id="1", app_secret={secret!r}, webhook_verify_token="t")
account = BusinessAccount.objects.create(meta_app=app, name="bench", waba_id={waba!r}, access_token="x")
number = PhoneNumber.objects.create(business_account=account, phone_number_id={phone!r}, display_phone_number="1")
contacts = Contact.objects.bulk_create([Contact(phone=f"+3460{{i:07d}}") for i in range({n})], batch_size=2000)
now = timezone.now()
Delivery.objects.bulk_create(
    [Delivery(sender=number, contact=c, wamid=f"wamid.bench-{{i}}", status="accepted", not_before=now,
              recipient=c.phone) for i, c in enumerate(contacts)], batch_size=2000)
from django.db import connection
if connection.vendor == "postgresql":  # the planner statistics autovacuum keeps in a live database
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
"""
COUNT_SENT = "SELECT count(*) FROM deliveries_delivery WHERE status = 'sent'"


def _sent_rows(database_url: str) -> int:
    """Rows the webhooks moved to `sent`, read straight from the database (no Django start-up in the timing)."""
    if database_url.startswith("sqlite:///"):
        import sqlite3

        with sqlite3.connect(database_url.removeprefix("sqlite:///"), timeout=30) as connection:
            return connection.execute(COUNT_SENT).fetchone()[0]
    import psycopg

    with psycopg.connect(database_url.replace("postgres://", "postgresql://")) as connection:
        return connection.execute(COUNT_SENT).fetchone()[0]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _body(index: int) -> bytes:
    payload = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": WABA_ID,
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {"display_phone_number": "15550001111", "phone_number_id": PHONE_NUMBER_ID},
                            "statuses": [
                                {
                                    "id": f"wamid.bench-{index}",
                                    "status": "sent",
                                    "timestamp": str(T0 + index),
                                    "recipient_id": f"3460{index:07d}",
                                    "biz_opaque_callback_data": str(index + 1),
                                    "pricing": {"pricing_model": "PMP", "type": "regular", "category": "marketing"},
                                }
                            ],
                        },
                    }
                ],
            }
        ],
    }
    return json.dumps(payload, separators=(",", ":")).encode()


def _request(port: int, path: str, body: bytes) -> bytes:
    signature = "sha256=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"X-Hub-Signature-256: {signature}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


def _post(request: bytes, port: int) -> tuple[int, float]:
    started = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    status = int(answer.split(b" ", 2)[1]) if answer else 0
    return status, time.perf_counter() - started


def _client(args: tuple[int, str, list[int], int]) -> list[tuple[int, float]]:
    """One client process: `threads` threads share its slice of the events."""
    port, path, indexes, threads = args
    requests = [_request(port, path, _body(i)) for i in indexes]
    results: list[tuple[int, float]] = []
    lock = threading.Lock()
    position = iter(range(len(requests)))

    def worker():
        while True:
            with lock:
                index = next(position, None)
            if index is None:
                return
            outcome = _post(requests[index], port)
            with lock:
                results.append(outcome)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return results


def _drive(port: int, path: str, events: int, concurrency: int, done=None) -> dict:
    """Posts `events` bodies from 2 processes; `done()` (if given) is polled until the work is in the DB."""
    processes = 2
    slices = [list(range(events))[p::processes] for p in range(processes)]
    started = time.perf_counter()
    with multiprocessing.Pool(processes) as pool:
        parts = pool.map(_client, [(port, path, indexes, concurrency // processes) for indexes in slices])
    answered = time.perf_counter()
    if done is not None:
        deadline = time.monotonic() + DEADLINE_SECONDS
        while not done() and time.monotonic() < deadline:
            time.sleep(0.01)
    elapsed = time.perf_counter() - started
    results = [r for part in parts for r in part]
    latencies = sorted(latency for _, latency in results)
    return {
        "events_per_s": events / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
        "non_200": sum(1 for status, _ in results if status != 200),
        "drain_lag_ms": (time.perf_counter() - answered) * 1000,
    }


def _manage(env: dict, *args: str, stdin: str | None = None) -> str:
    return subprocess.run(
        [sys.executable, str(PROJECT / "manage.py"), *args],
        env=env, cwd=PROJECT, input=stdin, capture_output=True, text=True, check=True, timeout=300,
    ).stdout  # fmt: skip


def _wait_for_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"gunicorn did not listen on {port}")


def _start(command: list[str], env: dict, workdir: Path, name: str) -> tuple[subprocess.Popen, object]:
    log = (workdir / f"{name}.log").open("wb")
    process = subprocess.Popen(
        command, env=env, cwd=PROJECT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    return process, log


def _stop(process: subprocess.Popen, log) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, 9)
        process.wait(timeout=10)
    log.close()


def run_database(database_url: str, *, events: int, concurrency: int, workdir: Path, drainer: str) -> dict:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DJANGO_SETTINGS_MODULE": "bench.webhook_ingest_site",
        "WACAMPAIGNS_IGNORE_DOTENV": "true",
        "DEBUG": "false",
        "SECRET_KEY": "bench-secret-key-0123456789abcdefghijklmnopqrstuvwxyz-0123456789",
        "SECRETS_ENCRYPTION_KEYS": "pJ3mM0r2m2tQeVvQ6n5Yb4X4lq9l2u8Wcz5K1s0hF1A=",
        "ERASURE_HASH_KEY": "bench",
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        "SECURE_COOKIES": "false",
        "STATIC_MANIFEST": "false",
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(PROJECT),
        # qcluster runs the product's schedules: keep them off the network.
        "GRAPH_API_BASE_URL": "http://127.0.0.1:9",
        "TEMPLATE_SYNC_INTERVAL_MINUTES": "0",
    }
    _manage(env, "migrate", "--no-input")
    _manage(env, "shell", stdin=SETUP.format(secret=APP_SECRET, waba=WABA_ID, phone=PHONE_NUMBER_ID, n=events))
    port = _free_port()
    server = _start(
        [str(Path(sys.executable).parent / "gunicorn"), "wacampaigns.wsgi", "--workers", "2", "--bind",
         f"127.0.0.1:{port}", "--no-control-socket", "--backlog", "512"],
        env, workdir, f"gunicorn-{port}",
    )  # fmt: skip
    drain_command = ["qcluster"] if drainer == "qcluster" else ["drain_webhooks"]
    drain_process = _start(
        [sys.executable, str(PROJECT / "manage.py"), *drain_command], env, workdir, f"drainer-{port}"
    )
    try:
        _wait_for_port(port)
        warm = min(200, events)
        _drive(port, "/bench/bare/", warm, concurrency)
        baseline = _drive(port, "/bench/bare/", events, concurrency)

        ingest = _drive(
            port, "/webhooks/whatsapp/", events, concurrency, done=lambda: _sent_rows(database_url) >= events
        )
        ingest["rows_updated"] = _sent_rows(database_url)
    finally:
        _stop(*drain_process)
        _stop(*server)
    return {"ingest": ingest, "baseline": baseline}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument(
        "--drainer", choices=["qcluster", "command"], default="qcluster",
        help="qcluster (the POSTs wake a drainer task) or `manage.py drain_webhooks` beside the web server",
    )  # fmt: skip
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-webhooks-") as tmp:
        workdir = Path(tmp)
        sqlite = run_database(
            f"sqlite:///{workdir / 'bench.sqlite3'}", events=options.events, concurrency=options.concurrency,
            workdir=workdir, drainer=options.drainer,
        )  # fmt: skip
        postgres = None
        if not options.skip_postgres:
            with throwaway_postgres() as url:
                postgres = run_database(
                    url,
                    events=options.events,
                    concurrency=options.concurrency,
                    workdir=workdir,
                    drainer=options.drainer,
                )
    runs = [r for r in (sqlite, postgres) if r]
    baseline = statistics.mean(r["baseline"]["events_per_s"] for r in runs)
    result = {
        "events": options.events,
        "statuses_per_post": 1,
        "concurrency": options.concurrency,
        "gunicorn_workers": 2,
        "drainer": "qcluster (drainer task woken by the POSTs)"
        if options.drainer == "qcluster"
        else "manage.py drain_webhooks",
        "events_per_s_sqlite": round(sqlite["ingest"]["events_per_s"], 1),
        "events_per_s_postgres": round(postgres["ingest"]["events_per_s"], 1) if postgres else None,
        "p50_ms": round(max(r["ingest"]["p50_ms"] for r in runs), 2),
        "p99_ms": round(max(r["ingest"]["p99_ms"] for r in runs), 2),
        "p50_ms_sqlite": round(sqlite["ingest"]["p50_ms"], 2),
        "p99_ms_sqlite": round(sqlite["ingest"]["p99_ms"], 2),
        "p50_ms_postgres": round(postgres["ingest"]["p50_ms"], 2) if postgres else None,
        "p99_ms_postgres": round(postgres["ingest"]["p99_ms"], 2) if postgres else None,
        "baseline_events_per_s": round(baseline, 1),
        "baseline_events_per_s_sqlite_run": round(sqlite["baseline"]["events_per_s"], 1),
        "baseline_events_per_s_postgres_run": round(postgres["baseline"]["events_per_s"], 1) if postgres else None,
        "baseline_p50_ms": round(statistics.mean(r["baseline"]["p50_ms"] for r in runs), 2),
        "ratio": round(min(r["ingest"]["events_per_s"] / r["baseline"]["events_per_s"] for r in runs), 3),
        "drain_lag_ms_sqlite": round(sqlite["ingest"]["drain_lag_ms"], 1),
        "drain_lag_ms_postgres": round(postgres["ingest"]["drain_lag_ms"], 1) if postgres else None,
        "rows_updated_sqlite": sqlite["ingest"]["rows_updated"],
        "rows_updated_postgres": postgres["ingest"]["rows_updated"] if postgres else None,
        "non_200": sum(r["ingest"]["non_200"] + r["baseline"]["non_200"] for r in runs),
        "cores": os.cpu_count(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
