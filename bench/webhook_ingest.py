"""Status webhooks ingested per second over real HTTP (gunicorn, 2 threaded workers), beside a bare Django view.

Usage: .venv/bin/python bench/webhook_ingest.py [--events 3000] [--rounds 3] [--concurrency 8]
       [--skip-sqlite | --skip-postgres] [--drainer qcluster|command]

For SQLite and for a throwaway PostgreSQL (tests/postgres_server.py): migrate a fresh database, create one
Meta app, account, number and N accepted deliveries per round, start gunicorn (2 gthread workers of 4 threads,
as README's production section runs it; loopback) and the drainer as production runs it (`qcluster`, default
settings: the POSTs wake the drainer task; or `manage.py drain_webhooks`). Then, `rounds` times, alternately:
the baseline, N POSTs of the same signed bodies to a bare view (answers 200, no database) under the same
server, settings and middleware; and the product, N signed status webhooks for that round's own deliveries,
one status per POST as Meta mostly sends them. Clients are threads in other processes. A product round counts
until its Delivery rows are updated (polled in the database), not until the 200s: the drainer's work is inside
the figure; `drain_lag_ms` is the time from the last 200 to the last row updated. The first product round also
wakes the drainer task; later rounds may find it still at work (it idles out after WEBHOOK_DRAIN_IDLE_SECONDS),
as it is while webhooks flow.

The machine is shared and noisy, so every product round is compared with the bare round just before it:
`ratio` is, per database, the median of those per-round ratios (then the lower database); rates are medians
of the rounds; p50/p99 pool every product request. CPU per event (ms, from /proc) is split into the web
server, the drainer, the database server, the clients and `other` (whatever else ran on the machine meanwhile:
if it is large, the figures of that round were disturbed). At the end every raw WebhookEvent must be
`processed` (none pending or failed) and every delivery `sent`. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import multiprocessing
import os
import resource
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
WORKERS = 2
THREADS = 4

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
COUNT_EVENTS = "SELECT state, count(*) FROM deliveries_webhookevent GROUP BY state"


def _query(database_url: str, sql: str) -> list[tuple]:
    """Read straight from the database (no Django start-up in the timing)."""
    if database_url.startswith("sqlite:///"):
        import sqlite3

        with sqlite3.connect(database_url.removeprefix("sqlite:///"), timeout=30) as connection:
            return connection.execute(sql).fetchall()
    import psycopg

    with psycopg.connect(database_url.replace("postgres://", "postgresql://")) as connection:
        return connection.execute(sql).fetchall()


def _sent_rows(database_url: str) -> int:
    """Rows the webhooks moved to `sent`."""
    return _query(database_url, COUNT_SENT)[0][0]


def _cpu_seconds() -> tuple[dict[int, tuple[int, str, float]], float]:
    """Every process now (pid → parent, command line, CPU seconds) and the whole machine's busy CPU seconds."""
    tick = os.sysconf("SC_CLK_TCK")
    processes = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as stat, open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                fields, command = stat.read().rpartition(")")[2].split(), cmdline.read().replace(b"\0", b" ").decode()
        except OSError:
            continue
        processes[int(pid)] = (int(fields[1]), command, (int(fields[11]) + int(fields[12])) / tick)
    with open("/proc/stat") as stat:
        times = [int(value) for value in stat.readline().split()[1:]]
    return processes, (sum(times) - times[3] - times[4]) / tick  # all but idle and iowait


def _root_of(processes: dict, pid: int, roots: dict[int, str]) -> str | None:
    seen = set()
    while pid and pid not in seen:
        if pid in roots:
            return roots[pid]
        seen.add(pid)
        pid = processes.get(pid, (0,))[0]
    return None


def _cpu_ms_per_event(before, after, roots: dict[int, str], client_seconds: float, events: int) -> dict:
    """CPU of the phase per process tree (`roots`: pid → group), ms per event; `other`: the rest of the machine."""
    (processes_before, busy_before), (processes_after, busy_after) = before, after
    groups = dict.fromkeys(["web", "drainer", "database"], 0.0)
    for pid, (_, command, seconds) in processes_after.items():
        name = _root_of(processes_after, pid, roots)
        if name is not None:
            previous = processes_before.get(pid)
            groups[name] += seconds - (previous[2] if previous and previous[1] == command else 0.0)
    groups["clients"] = client_seconds
    busy = busy_after - busy_before
    groups["other"] = max(0.0, busy - sum(groups.values()))
    groups["all"] = busy
    return {name: round(seconds * 1000 / events, 3) for name, seconds in groups.items()}


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


def _client(args: tuple[int, str, list[int], int]) -> tuple[list[tuple[int, float]], float]:
    """One client process: `threads` threads share its slice of the events. Returns results and its CPU seconds."""
    port, path, indexes, threads = args
    requests = [_request(port, path, _body(i)) for i in indexes]
    usage = resource.getrusage(resource.RUSAGE_SELF)
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
    after = resource.getrusage(resource.RUSAGE_SELF)
    return results, after.ru_utime + after.ru_stime - usage.ru_utime - usage.ru_stime


def _drive(port: int, path: str, indexes: range, concurrency: int, roots: dict[int, str], done=None) -> dict:
    """Posts the bodies of `indexes` from 2 processes; `done()` (if given) is polled until the work is in the DB."""
    processes = 2
    slices = [list(indexes)[p::processes] for p in range(processes)]
    with multiprocessing.Pool(processes) as pool:
        pool.map(abs, range(processes))  # the client processes exist before the clock starts
        cpu_before = _cpu_seconds()
        started = time.perf_counter()
        parts = pool.map(_client, [(port, path, part, concurrency // processes) for part in slices])
        answered = time.perf_counter()
        if done is not None:
            deadline = time.monotonic() + DEADLINE_SECONDS
            while not done() and time.monotonic() < deadline:
                time.sleep(0.01)
        elapsed = time.perf_counter() - started
        cpu_after = _cpu_seconds()
    results = [r for part, _ in parts for r in part]
    latencies = sorted(latency for _, latency in results)
    return {
        "events_per_s": len(indexes) / elapsed,
        "latencies": latencies,
        "non_200": sum(1 for status, _ in results if status != 200),
        "drain_lag_ms": (time.perf_counter() - answered) * 1000,
        "cpu_ms_per_event": _cpu_ms_per_event(cpu_before, cpu_after, roots, sum(c for _, c in parts), len(indexes)),
    }


def _percentile_ms(latencies: list[float], fraction: float) -> float:
    ordered = sorted(latencies)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))] * 1000


def _median_cpu(rounds: list[dict]) -> dict:
    names = rounds[0]["cpu_ms_per_event"]
    return {name: round(statistics.median(r["cpu_ms_per_event"][name] for r in rounds), 3) for name in names}


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


def run_database(database_url: str, *, events: int, rounds: int, concurrency: int, workdir: Path, drainer: str) -> dict:
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
    total = events * rounds
    _manage(env, "shell", stdin=SETUP.format(secret=APP_SECRET, waba=WABA_ID, phone=PHONE_NUMBER_ID, n=total))
    port = _free_port()
    server = _start(
        [str(Path(sys.executable).parent / "gunicorn"), "wacampaigns.wsgi", "--workers", str(WORKERS),
         "--worker-class", "gthread", "--threads", str(THREADS), "--bind", f"127.0.0.1:{port}",
         "--no-control-socket", "--backlog", "512"],
        env, workdir, f"gunicorn-{port}",
    )  # fmt: skip
    drain_command = ["qcluster"] if drainer == "qcluster" else ["drain_webhooks"]
    drain_process = _start(
        [sys.executable, str(PROJECT / "manage.py"), *drain_command], env, workdir, f"drainer-{port}"
    )
    baselines, ingests = [], []
    try:
        _wait_for_port(port)
        roots = {server[0].pid: "web", drain_process[0].pid: "drainer"}
        database_port = database_url.rpartition(":")[2].partition("/")[0]
        for pid, (_, command, _) in _cpu_seconds()[0].items():
            if f"port={database_port} " in command:  # the throwaway PostgreSQL's postmaster
                roots[pid] = "database"
        _drive(port, "/bench/bare/", range(min(200, events)), concurrency, roots)
        for number in range(rounds):
            baselines.append(_drive(port, "/bench/bare/", range(events), concurrency, roots))
            applied = events * (number + 1)
            ingests.append(
                _drive(
                    port,
                    "/webhooks/whatsapp/",
                    range(events * number, applied),
                    concurrency,
                    roots,
                    done=lambda applied=applied: _sent_rows(database_url) >= applied,
                )
            )
        rows_updated = _sent_rows(database_url)
        webhook_events = dict(_query(database_url, COUNT_EVENTS))
    finally:
        _stop(*drain_process)
        _stop(*server)
    ratios = [i["events_per_s"] / b["events_per_s"] for i, b in zip(ingests, baselines, strict=True)]
    latencies = [latency for r in ingests for latency in r["latencies"]]
    return {
        "events_per_s": statistics.median(r["events_per_s"] for r in ingests),
        "baseline_events_per_s": statistics.median(r["events_per_s"] for r in baselines),
        "ratio": statistics.median(ratios),
        "rounds": {
            "events_per_s": [round(r["events_per_s"], 1) for r in ingests],
            "baseline_events_per_s": [round(r["events_per_s"], 1) for r in baselines],
            "ratio": [round(ratio, 3) for ratio in ratios],
            "drain_lag_ms": [round(r["drain_lag_ms"], 1) for r in ingests],
        },
        "p50_ms": _percentile_ms(latencies, 0.5),
        "p99_ms": _percentile_ms(latencies, 0.99),
        "baseline_p50_ms": _percentile_ms([x for r in baselines for x in r["latencies"]], 0.5),
        "cpu_ms_per_event": _median_cpu(ingests),
        "baseline_cpu_ms_per_event": _median_cpu(baselines),
        "non_200": sum(r["non_200"] for r in ingests + baselines),
        "events_posted": total,
        "rows_updated": rows_updated,
        "webhook_events": webhook_events,
        "all_applied": rows_updated == total and webhook_events == {"processed": total},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=3000, help="POSTs per round and per view")
    parser.add_argument("--rounds", type=int, default=3, help="alternating bare / product rounds per database")
    parser.add_argument("--concurrency", type=int, default=8)
    skipped = parser.add_mutually_exclusive_group()
    skipped.add_argument("--skip-sqlite", action="store_true")
    skipped.add_argument("--skip-postgres", action="store_true")
    parser.add_argument(
        "--drainer", choices=["qcluster", "command"], default="qcluster",
        help="qcluster (the POSTs wake a drainer task) or `manage.py drain_webhooks` beside the web server",
    )  # fmt: skip
    options = parser.parse_args()
    settings = {
        "events": options.events,
        "rounds": options.rounds,
        "concurrency": options.concurrency,
        "drainer": options.drainer,
    }
    with tempfile.TemporaryDirectory(prefix="bench-webhooks-") as tmp:
        workdir = Path(tmp)
        sqlite = postgres = None
        if not options.skip_sqlite:
            sqlite = run_database(f"sqlite:///{workdir / 'bench.sqlite3'}", workdir=workdir, **settings)
        if not options.skip_postgres:
            with throwaway_postgres() as url:
                postgres = run_database(url, workdir=workdir, **settings)
    runs = {"sqlite": sqlite, "postgres": postgres}
    measured = [r for r in runs.values() if r]

    def each(key: str, digits: int = 1) -> dict:
        return {
            f"{key}_{name}": (round(r[key], digits) if isinstance(r[key], float) else r[key]) if r else None
            for name, r in runs.items()
        }

    result = {
        "events_per_round": options.events,
        "rounds": options.rounds,
        "statuses_per_post": 1,
        "concurrency": options.concurrency,
        "gunicorn_workers": WORKERS,
        "gunicorn_threads": THREADS,
        "drainer": "qcluster (drainer task woken by the POSTs)"
        if options.drainer == "qcluster"
        else "manage.py drain_webhooks",
        "counted_until": "Delivery rows updated by the drainer (not the 200s)",
        "events_per_s_sqlite": round(sqlite["events_per_s"], 1) if sqlite else None,
        "events_per_s_postgres": round(postgres["events_per_s"], 1) if postgres else None,
        "p50_ms": round(max(r["p50_ms"] for r in measured), 2),
        "p99_ms": round(max(r["p99_ms"] for r in measured), 2),
        **each("p50_ms", 2),
        **each("p99_ms", 2),
        "baseline_events_per_s": round(statistics.mean(r["baseline_events_per_s"] for r in measured), 1),
        **each("baseline_events_per_s"),
        "baseline_p50_ms": round(statistics.mean(r["baseline_p50_ms"] for r in measured), 2),
        "ratio": round(min(r["ratio"] for r in measured), 3),
        **each("ratio", 3),
        **each("rounds"),
        **each("cpu_ms_per_event"),
        **each("baseline_cpu_ms_per_event"),
        **each("rows_updated"),
        **each("webhook_events"),
        "all_applied": all(r["all_applied"] for r in measured),
        "non_200": sum(r["non_200"] for r in measured),
        "cores": os.cpu_count(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
