"""Campaign sending throughput of the real processes, beside a raw `requests` baseline measured in the same run.

Usage: .venv/bin/python bench/send_throughput.py [--messages 5400] [--million 1000000] [--skip-postgres]
       [--skip-sqlite] [--latencies 0,100] [--skip-throughput] [--skip-limited] [--skip-launch]

(a) No sender limit, simulator latency 0 ms and 100 ms: launch → last accepted send, messages/s, for the
    product (one qcluster, SQLite, 2 sender slots of SENDER_THREADS threads) and for the baseline: the same
    number of processes and threads posting the same payloads (taken from the product run's simulator log)
    straight to the same simulator with `requests`. CPU per message of each; the simulator's CPU share.
(b) Simulator latency 150 ms, number limit 80/s, simulator enforcing 80/s: the product's rate over the run
    (≥ 60 s), 130429 answers, and the busiest sliding one-second window of the simulator's log.
(c) 1,000,000 recipients: materialization time on SQLite and on PostgreSQL (a throwaway server), and the
    time from the confirmed launch to the first send reaching the simulator.

The simulator runs with `--no-webhooks` (webhook processing is measured by bench/webhook_ingest.py): the
figures are the sending engine's. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))
MANAGE = str(PROJECT / "manage.py")
TOKEN = "simulator-access-token"
PHONE_NUMBER_ID = "100000000000001"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
SENDER_THREADS = 16
SENDER_PROCESSES = 2

SETUP = """
import json, os
from django.db import connection
from django.utils import timezone
from contacts.models import Contact
from templates_app.models import MessageTemplate
from wacampaigns.models import BusinessAccount, MetaApp, PhoneNumber
p = json.loads(os.environ["BENCH"])
app = MetaApp.objects.create(name="sim", app_id="300000000000001", app_secret="simulator-app-secret",
                             webhook_verify_token="verify")
account = BusinessAccount.objects.create(meta_app=app, name="sim", waba_id="200000000000001",
    access_token="simulator-access-token", graph_api_base_url=p["base_url"], graph_api_version="v23.0",
    messaging_limit_tier="TIER_UNLIMITED")
PhoneNumber.objects.create(business_account=account, phone_number_id="100000000000001",
    display_phone_number="15550100001", throughput_limit=10000)
MessageTemplate.objects.create(business_account=account, name="spring_sale", language="en_US",
    category="MARKETING", status="APPROVED", components=p["components"])
now = timezone.now()
postgres = connection.vendor == "postgresql"
explicit = {
    "phone": ("'+3460' || lpad(n::text, 7, '0')" if postgres else "'+3460' || substr('0000000' || n, -7, 7)", []),
    "name": ("'Person ' || n", []),
    "marketing_consent": ("%s", ["opted_in"]),
    "marketing_consent_source": ("%s", ["import"]),
}
columns, expressions, params = [], [], []
for field in Contact._meta.concrete_fields:
    if field.primary_key:
        continue
    columns.append(field.column)
    if field.name in explicit:
        expression, values = explicit[field.name]
    elif field.name in ("created_at", "updated_at", "marketing_consent_at"):
        expression, values = "%s", [now]
    elif field.null:
        expression, values = "NULL", []
    else:
        expression, values = "%s", [field.get_db_prep_save(field.get_default(), connection)]
    expressions.append(expression)
    params += values
select = f"SELECT {', '.join(expressions)} FROM "
if postgres:
    sql = f"INSERT INTO contacts_contact ({', '.join(columns)}) {select} generate_series(0, %s - 1) AS s(n)"
else:
    sql = (f"WITH RECURSIVE s(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM s WHERE n + 1 < %s) "
           f"INSERT INTO contacts_contact ({', '.join(columns)}) {select} s")
with connection.cursor() as cursor:
    cursor.execute(sql, [p["contacts"], *params] if not postgres else [*params, p["contacts"]])
print(Contact.objects.count())
"""

LAUNCH = """
import json, os, time
from wacampaigns.models import Campaign, PhoneNumber
from wacampaigns.services import campaign_launch
p = json.loads(os.environ["BENCH"])
number = PhoneNumber.objects.get()
PhoneNumber.objects.filter(pk=number.pk).update(throughput_limit=p["limit"])
campaign = Campaign.objects.create(name=p["name"], sender=number, template_name="spring_sale", concurrency=p["slots"],
    variable_mapping={"body.1": {"source": "contact_field", "value": "name"},
                      "body.2": {"source": "constant", "value": "SPRING20"}})
started = time.time()
campaign_launch(campaign=campaign)
print(json.dumps({"campaign": campaign.pk, "launched": started}))
"""

SPRING_SALE = [
    {"type": "HEADER", "format": "TEXT", "text": "Spring Sale"},
    {
        "type": "BODY",
        "text": "Hi {{1}}, our Spring Sale is on! Use promo code {{2}} for an extra 20% off.",
        "example": {"body_text": [["Mark", "SPRING20"]]},
    },
    {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Stop promotions"}]},
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def group_cpu_seconds(pgid: int) -> float:
    """User + system CPU of every live process in the group (their finished children included)."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid:
                total += sum(int(value) for value in fields[11:15])
    return total / CLOCK_TICKS


class Stack:
    """Simulator and qcluster(s) for one database; everything is killed on close."""

    def __init__(self, database_url: str, workdir: Path, env: dict[str, str] | None = None):
        self.workdir = workdir
        self.processes: list[subprocess.Popen] = []
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "WACAMPAIGNS_IGNORE_DOTENV": "true",
            # Production mode, as deployed (and as the other benches run): DEBUG's SQL logging is not the
            # product's work (on SQLite it quotes every statement's parameters with an extra query).
            "DEBUG": "false",
            "SECRET_KEY": "bench-secret-key-0123456789abcdefghijklmnopqrstuvwxyz-0123456789",
            "SECRETS_ENCRYPTION_KEYS": "pJ3mM0r2m2tQeVvQ6n5Yb4X4lq9l2u8Wcz5K1s0hF1A=",
            "ERASURE_HASH_KEY": "bench",
            "LOG_LEVEL": "WARNING",
            "SENDER_THREADS": str(SENDER_THREADS),
            "Q_WORKERS": str(SENDER_PROCESSES + 1),
            **(env or {}),
        }

    def run(self, *args: str, bench: dict | None = None) -> str:
        env = {**self.env, "BENCH": json.dumps(bench or {})}
        done = subprocess.run([sys.executable, MANAGE, *args], env=env, cwd=PROJECT, capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"manage.py {args[0]} failed: {done.stderr[-2000:]}")
        return done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""

    def spawn(self, *command: str) -> subprocess.Popen:
        log = (self.workdir / f"{len(self.processes)}.log").open("wb")
        process = subprocess.Popen(
            command, env=self.env, cwd=PROJECT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.processes.append(process)
        return process

    def start_simulator(self) -> str:
        port = free_port()
        self.simulator = self.spawn(
            sys.executable,
            MANAGE,
            "simulate_cloud_api",
            "--port",
            str(port),
            "--no-webhooks",
            "--throughput",
            "100000",
            "--fail-131026-share",
            "0",
            "--fail-131049-share",
            "0",
            "--fail-131050-share",
            "0",
        )
        self.simulator_url = f"http://127.0.0.1:{port}"
        wait(lambda: requests.get(f"{self.simulator_url}/_sim/stats", timeout=1).ok, 30)
        return self.simulator_url

    def start_qcluster(self) -> subprocess.Popen:
        self.qcluster = self.spawn(sys.executable, MANAGE, "qcluster")
        time.sleep(3)  # the cluster's workers start; the measured launch begins after
        return self.qcluster

    def sim(self, path: str, body: dict | None = None):
        if body is None:
            return requests.get(f"{self.simulator_url}/_sim/{path}", timeout=60).json()
        return requests.post(f"{self.simulator_url}/_sim/{path}", json=body, timeout=60).json()

    def close(self) -> None:
        for process in self.processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def wait(condition, timeout: float, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(requests.RequestException, OSError):
            result = condition()
            if result:
                return result
        time.sleep(interval)
    raise TimeoutError("condition not met in time")


def product_run(stack: Stack, *, name: str, expected: int, limit: int, timeout: float) -> dict:
    # No simulator reset between runs: its wamids restart after a reset, and a wamid is unique in the product.
    start = stack.sim("stats")
    cpu_before = group_cpu_seconds(stack.qcluster.pid), group_cpu_seconds(stack.simulator.pid)
    launched = json.loads(
        stack.run(
            "shell", "--no-imports", "-c", LAUNCH, bench={"name": name, "limit": limit, "slots": SENDER_PROCESSES}
        )
    )
    wait(lambda: stack.sim("stats")["accepted"] - start["accepted"] >= expected, timeout, interval=0.2)
    log = stack.sim(f"messages?since={start['logged']}")
    cpu_after = group_cpu_seconds(stack.qcluster.pid), group_cpu_seconds(stack.simulator.pid)
    times = sorted(entry["accepted_at"] for entry in log)
    return {
        "rate": expected / (times[-1] - launched["launched"]),
        "steady_rate": len(times) / (times[-1] - times[0]),
        "first_send": times[0] - launched["launched"],
        "cpu_ms_per_msg": 1000 * (cpu_after[0] - cpu_before[0]) / expected,
        "simulator_cpu": cpu_after[1] - cpu_before[1],
        "product_cpu": cpu_after[0] - cpu_before[0],
        "rejected": {
            code: count - start["rejected"].get(code, 0) for code, count in stack.sim("stats")["rejected"].items()
        },
        "log": log,
    }


def _baseline_process(url: str, bodies: list[bytes], threads: int, results) -> None:
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=threads, max_retries=0)
    session.mount("http://", adapter)
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    position = iter(range(len(bodies)))
    lock = threading.Lock()

    def worker():
        while True:
            with lock:
                index = next(position, None)
            if index is None:
                return
            session.post(url, data=bodies[index], headers=headers, timeout=30).raise_for_status()

    cpu = time.process_time()
    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    results.put(time.process_time() - cpu)


def baseline_run(stack: Stack, log: list[dict]) -> dict:
    """The same payloads, posted by as many processes and threads as the product's senders, straight."""
    start = stack.sim("stats")["logged"]
    bodies = [
        json.dumps(
            {
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": entry["to"],
                "type": "template",
                "biz_opaque_callback_data": entry["biz_opaque_callback_data"],
                "template": {
                    "name": entry["template"],
                    "language": {"code": entry["language"]},
                    "components": entry["components"],
                },
            },
            separators=(",", ":"),
        ).encode()
        for entry in log
    ]
    url = f"{stack.simulator_url}/v23.0/{PHONE_NUMBER_ID}/messages"
    results = multiprocessing.Queue()
    shares = [bodies[i::SENDER_PROCESSES] for i in range(SENDER_PROCESSES)]
    processes = [
        multiprocessing.Process(target=_baseline_process, args=(url, share, SENDER_THREADS, results))
        for share in shares
    ]
    started = time.time()
    for process in processes:
        process.start()
    cpu = sum(results.get() for _ in processes)
    for process in processes:
        process.join()
    times = sorted(entry["accepted_at"] for entry in stack.sim(f"messages?since={start}"))
    return {"rate": len(bodies) / (times[-1] - started), "cpu_ms_per_msg": 1000 * cpu / len(bodies)}


def sliding_window_max(timestamps: list[float]) -> int:
    ordered, best, start = sorted(timestamps), 0, 0
    for end, moment in enumerate(ordered):
        while moment - ordered[start] >= 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


def throughput(messages: int, workdir: Path, *, latencies: list[int], limited: bool) -> dict:
    stack = Stack(f"sqlite:///{workdir / 'throughput.sqlite3'}", workdir)
    try:
        stack.run("migrate", "--no-input")
        stack.run("createcachetable")
        base_url = stack.start_simulator()
        stack.run(
            "shell",
            "--no-imports",
            "-c",
            SETUP,
            bench={"base_url": base_url, "contacts": messages, "components": SPRING_SALE},
        )
        stack.start_qcluster()
        figures: dict = {
            "product_msgs_per_s": {},
            "baseline_msgs_per_s": {},
            "ratio": {},
            "product_cpu_ms_per_msg": {},
            "baseline_cpu_ms_per_msg": {},
            "simulator_cpu_share": {},
            "product_first_send_seconds": {},
            "product_steady_msgs_per_s": {},
        }
        for latency in latencies:
            stack.sim("config", {"latency_ms": latency, "throughput_per_second": 100000.0})
            product = product_run(stack, name=f"unlimited {latency} ms", expected=messages, limit=10000, timeout=300)
            baseline = baseline_run(stack, product["log"])
            key = str(latency)
            figures["product_msgs_per_s"][key] = round(product["rate"], 1)
            figures["baseline_msgs_per_s"][key] = round(baseline["rate"], 1)
            figures["ratio"][key] = round(product["rate"] / baseline["rate"], 3)
            figures["product_cpu_ms_per_msg"][key] = round(product["cpu_ms_per_msg"], 3)
            figures["baseline_cpu_ms_per_msg"][key] = round(baseline["cpu_ms_per_msg"], 3)
            figures["product_first_send_seconds"][key] = round(product["first_send"], 3)
            figures["product_steady_msgs_per_s"][key] = round(product["steady_rate"], 1)
            figures["simulator_cpu_share"][key] = round(
                product["simulator_cpu"] / (product["simulator_cpu"] + product["product_cpu"]), 3
            )
        if not limited:
            return figures
        stack.sim("config", {"latency_ms": 150, "throughput_per_second": 80.0})
        limited = product_run(stack, name="limited 80/s", expected=messages, limit=80, timeout=600)
        times = [entry["accepted_at"] for entry in limited["log"]]
        figures.update(
            limited_rate_msgs_per_s=round(limited["steady_rate"], 2),
            limited_rate_seconds=round(max(times) - min(times), 1),
            limited_rate_limit=80,
            rate_limit_errors=int(limited["rejected"].get("130429", 0)),
            max_one_second_window=sliding_window_max(times),
        )
        return figures
    finally:
        stack.close()


WAIT_MATERIALIZED = """
import json, os, time
from wacampaigns.models import Campaign
campaign_id = json.loads(os.environ["BENCH"])["campaign"]
deadline = time.monotonic() + 600
while True:
    materialized_at = Campaign.objects.filter(pk=campaign_id).values_list("audience_materialized_at", flat=True)[0]
    if materialized_at is not None or time.monotonic() > deadline:
        break
    time.sleep(0.2)
if materialized_at is None:
    raise SystemExit(f"campaign {campaign_id} not materialized within 600 s")
print(materialized_at.timestamp())
"""


def million(database_url: str, recipients: int, workdir: Path) -> dict:
    """Launch a campaign of `recipients` with the qcluster and simulator running: materialization and first send."""
    stack = Stack(database_url, workdir, env={"Q_WORKERS": "3"})
    try:
        stack.run("migrate", "--no-input")
        stack.run("createcachetable")
        base_url = stack.start_simulator()
        stack.run(
            "shell",
            "--no-imports",
            "-c",
            SETUP,
            bench={"base_url": base_url, "contacts": recipients, "components": SPRING_SALE},
        )
        stack.start_qcluster()
        launched = json.loads(
            stack.run("shell", "--no-imports", "-c", LAUNCH, bench={"name": "million", "limit": 80, "slots": 2})
        )
        first = wait(lambda: stack.sim("messages"), 120, interval=0.05)[0]["accepted_at"]
        # One process that polls until done: a `manage.py shell` every second would take a quarter of a core
        # from the materializer on a 2-core machine.
        finished = stack.run("shell", "--no-imports", "-c", WAIT_MATERIALIZED, bench={"campaign": launched["campaign"]})
        rows = int(
            stack.run(
                "shell",
                "--no-imports",
                "-c",
                (
                    "from deliveries.models import Delivery; "
                    f"print(Delivery.objects.filter(campaign={launched['campaign']}).count())"
                ),
            )
        )
        return {
            "seconds": float(finished) - launched["launched"],
            "first_send": first - launched["launched"],
            "rows": rows,
        }
    finally:
        stack.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=5400)
    parser.add_argument("--million", type=int, default=1_000_000)
    parser.add_argument("--skip-postgres", action="store_true", help="skip (c) on PostgreSQL")
    parser.add_argument("--skip-sqlite", action="store_true", help="skip (c) on SQLite")
    parser.add_argument("--skip-throughput", action="store_true", help="skip (a) and (b)")
    parser.add_argument("--latencies", default="0,100", help="simulator latencies (ms) of (a), comma-separated")
    parser.add_argument("--skip-limited", action="store_true", help="skip (b)")
    parser.add_argument("--skip-launch", action="store_true", help="skip (c)")
    options = parser.parse_args()
    result: dict = {
        "cores": os.cpu_count(),
        "database": "sqlite (throughput runs)",
        "simulator_webhooks": False,
        "sender_processes": SENDER_PROCESSES,
        "sender_threads": SENDER_THREADS,
        "messages_per_run": options.messages,
    }
    with tempfile.TemporaryDirectory(prefix="bench-send-") as directory:
        workdir = Path(directory)
        if not options.skip_throughput:
            latencies = [int(latency) for latency in options.latencies.split(",") if latency]
            result.update(throughput(options.messages, workdir, latencies=latencies, limited=not options.skip_limited))
        if options.skip_launch:
            print(json.dumps(result))
            return
        if not options.skip_sqlite:
            sqlite_million = million(f"sqlite:///{workdir / 'million.sqlite3'}", options.million, workdir)
            result["launch_1m_seconds_sqlite"] = round(sqlite_million["seconds"], 2)
            result["first_send_seconds"] = round(sqlite_million["first_send"], 2)
            result["launch_1m_rows"] = sqlite_million["rows"]
        if not options.skip_postgres:
            from tests.postgres_server import PostgresUnavailable, throwaway_postgres

            try:
                with throwaway_postgres() as database_url:
                    postgres_million = million(database_url, options.million, workdir)
            except PostgresUnavailable as err:
                result["launch_1m_seconds_postgres"] = None
                result["postgres_unavailable"] = str(err)
            else:
                result["launch_1m_seconds_postgres"] = round(postgres_million["seconds"], 2)
                result["first_send_seconds_postgres"] = round(postgres_million["first_send"], 2)
                result["launch_1m_rows_postgres"] = postgres_million["rows"]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
