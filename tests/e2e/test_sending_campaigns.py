"""Campaigns sent by the real processes on loopback: simulator (with faults), gunicorn (webhooks), qcluster(s).

Every run checks the same end state against the simulator's own log: each eligible recipient exactly once
(zero duplicates, zero missing), no opted-out contact, and every Delivery's final status equal to the last
status the simulator posted for it (read_share=1: an accepted message ends `read`, a failed one `failed`).

The heavy runs (2,000 recipients with two SIGKILLs; two qclusters with PostgreSQL and Redis) run when
DATABASE_URL is PostgreSQL (`make test-postgres`); the SQLite run has a short smoke variant of the same.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
import requests

from tests.e2e.processes import MANAGE, ROOT, free_port, http_ok, wait_until

pytestmark = pytest.mark.e2e

POSTGRES = os.environ.get("DATABASE_URL", "").startswith("postgres")
APP_SECRET = "simulator-app-secret"
WABA_ID = "200000000000001"
PHONE_NUMBER_ID = "100000000000001"
OPEN = ("queued", "sending", "ambiguous")
IN_FLIGHT = ("accepted", "held", "sent", "delivered")

SETUP = """
import json, os
from django.utils import timezone
from contacts.models import Contact, Tag
from templates_app.models import MessageTemplate
from wacampaigns.models import BusinessAccount, Campaign, MetaApp, PhoneNumber
p = json.loads(os.environ["E2E_SETUP"])
app = MetaApp.objects.create(name="sim", app_id="300000000000001", app_secret="simulator-app-secret",
                             webhook_verify_token="verify")
account = BusinessAccount.objects.create(meta_app=app, name="sim", waba_id="200000000000001",
    access_token="simulator-access-token", graph_api_base_url=p["base_url"], graph_api_version="v23.0",
    messaging_limit_tier="TIER_UNLIMITED")
number = PhoneNumber.objects.create(business_account=account, phone_number_id="100000000000001",
    display_phone_number="15550100001", throughput_limit=p["throughput"])
MessageTemplate.objects.create(business_account=account, name="spring_sale", language="en_US",
    category="MARKETING", status="APPROVED", components=p["components"])
now = timezone.now()
Contact.objects.bulk_create([
    Contact(phone=f"+3460{i:07d}", name=f"Person {i}", marketing_consent="opted_out" if i in p["opted_out"]
            else "opted_in", marketing_consent_source="import", marketing_consent_at=now)
    for i in range(p["contacts"])
], batch_size=1000)
tag = Tag.objects.create(name="e2e")
Tag.contacts.through.objects.bulk_create(
    [Tag.contacts.through(tag_id=tag.pk, contact_id=pk) for pk in Contact.objects.values_list("pk", flat=True)])
campaign = Campaign.objects.create(name="e2e", sender=number, template_name="spring_sale",
    concurrency=p["concurrency"], variable_mapping={"body.1": {"source": "contact_field", "value": "name"},
    "body.2": {"source": "constant", "value": "SPRING20"}})
campaign.include_tags.add(tag)
print(campaign.pk)
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


def phone(index: int) -> str:
    return f"+3460{index:07d}"


class Stack:
    """The product's processes on loopback ports, against a fresh database of its own."""

    def __init__(self, tmp_path: Path, *, redis: bool = False, env: dict[str, str] | None = None):
        self.tmp_path = tmp_path
        self.processes: list[subprocess.Popen] = []
        self.qclusters: list[subprocess.Popen] = []
        self.database_url = self._database()
        self.web_port, self.simulator_port = free_port(), free_port()
        self.env = {
            **os.environ,
            "DATABASE_URL": self.database_url,
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "Q_TASK_TIMEOUT_SECONDS": "60",
            "SENDER_TIME_BOX_SECONDS": "10",
            "SENDER_LEASE_SECONDS": "4",
            "SENDER_THREADS": "8",
            "SENDER_BACKOFF_BASE_SECONDS": "1",
            "SENDER_BACKOFF_MAX_SECONDS": "5",
            "GRAPH_API_READ_TIMEOUT_SECONDS": "1",
            "AMBIGUOUS_GRACE_SECONDS": "15",
            "Q_WORKERS": "3",
            "LOG_LEVEL": "WARNING",
            **(env or {}),
        }
        if redis:
            self.env["REDIS_URL"] = self._redis()

    # --- infrastructure -----------------------------------------------------------------------------

    def _database(self) -> str:
        if not POSTGRES:
            return f"sqlite:///{self.tmp_path / 'e2e.sqlite3'}"
        import psycopg

        base = os.environ["DATABASE_URL"]
        name = f"e2e_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(base.replace("postgres://", "postgresql://"), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return base.rsplit("/", 1)[0] + f"/{name}"

    def _redis(self) -> str:
        server = shutil.which("redis-server")
        if server is None:
            pytest.fail("redis-server is not installed (make system-packages installs it)")
        port = free_port()
        self._spawn([server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], "redis")
        wait_until(lambda: _redis_ping(port), timeout=10, what="redis-server")
        return f"redis://127.0.0.1:{port}/0"

    def _spawn(self, command: list[str], name: str) -> subprocess.Popen:
        log = (self.tmp_path / f"{name}-{len(self.processes)}.log").open("wb")
        process = subprocess.Popen(
            command,
            env=getattr(self, "env", os.environ),
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes.append(process)
        return process

    def manage(self, *args: str, extra_env: dict[str, str] | None = None) -> str:
        done = subprocess.run(
            [sys.executable, MANAGE, *args],
            env={**self.env, **(extra_env or {})},
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout

    def shell(self, code: str, **extra_env: str) -> str:
        return self.manage("shell", "--no-imports", "-c", code, extra_env=extra_env).strip()

    def start(self, *, simulator_flags: list[str], qclusters: int = 1) -> None:
        self.manage("migrate", "--no-input")
        self.manage("createcachetable")
        self.simulator_url = f"http://127.0.0.1:{self.simulator_port}"
        self._spawn(
            [
                sys.executable,
                MANAGE,
                "simulate_cloud_api",
                "--port",
                str(self.simulator_port),
                "--seed",
                "11",
                "--callback-url",
                f"http://127.0.0.1:{self.web_port}/webhooks/whatsapp/",
                "--read-share",
                "1",
                *simulator_flags,
            ],
            "simulator",
        )
        self._spawn(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "wacampaigns.wsgi",
                "--bind",
                f"127.0.0.1:{self.web_port}",
                "--workers",
                "3",
                "--threads",
                "4",
                "--no-control-socket",
            ],
            "web",
        )
        wait_until(lambda: http_ok(f"{self.simulator_url}/_sim/stats"), timeout=30, what="the simulator")
        wait_until(
            lambda: requests.get(f"http://127.0.0.1:{self.web_port}/webhooks/whatsapp/", timeout=2).status_code == 403,
            timeout=30,
            what="the web server",
        )
        for _ in range(qclusters):
            self.qcluster_start()

    def qcluster_start(self) -> subprocess.Popen:
        process = self._spawn([sys.executable, MANAGE, "qcluster"], "qcluster")
        self.qclusters.append(process)
        return process

    def qcluster_kill(self, process: subprocess.Popen) -> None:
        """SIGKILL to the qcluster's whole process group: workers die mid-request, nothing is cleaned up."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        self.qclusters.remove(process)

    def close(self) -> None:
        for process in reversed(self.processes):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    # --- data ---------------------------------------------------------------------------------------

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        if POSTGRES:
            import psycopg

            with psycopg.connect(self.database_url.replace("postgres://", "postgresql://")) as connection:
                return connection.execute(sql.replace("?", "%s"), params).fetchall()
        with contextlib.closing(sqlite3.connect(self.database_url.removeprefix("sqlite:///"), timeout=30)) as db:
            return db.execute(sql, params).fetchall()

    def setup(self, *, contacts: int, opted_out: set[int], throughput: int, concurrency: int = 2) -> int:
        payload = {
            "base_url": self.simulator_url,
            "contacts": contacts,
            "opted_out": sorted(opted_out),
            "throughput": throughput,
            "concurrency": concurrency,
            "components": SPRING_SALE,
        }
        return int(self.shell(SETUP, E2E_SETUP=json.dumps(payload)).splitlines()[-1])

    def service(self, name: str, campaign_id: int, **kwargs) -> str:
        arguments = "".join(f", {key}={value!r}" for key, value in kwargs.items())
        return self.shell(
            f"from wacampaigns import services; from wacampaigns.models import Campaign; "
            f"print(services.{name}(campaign=Campaign.objects.get(pk={campaign_id}){arguments}))"
        )

    def statuses(self, campaign_id: int) -> Counter:
        return Counter(
            dict(
                self.query(
                    "SELECT status, COUNT(*) FROM deliveries_delivery WHERE campaign_id = ? GROUP BY status",
                    (campaign_id,),
                )
            )
        )

    def campaign_status(self, campaign_id: int) -> str:
        return self.query("SELECT status FROM wacampaigns_campaign WHERE id = ?", (campaign_id,))[0][0]

    def messages(self) -> list[dict]:
        return requests.get(f"{self.simulator_url}/_sim/messages", timeout=30).json()

    def stats(self) -> dict:
        return requests.get(f"{self.simulator_url}/_sim/stats", timeout=10).json()

    def post_signed_webhook(self, document: dict) -> int:
        body = json.dumps(document).encode()
        signature = "sha256=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
        return requests.post(
            f"http://127.0.0.1:{self.web_port}/webhooks/whatsapp/",
            data=body,
            timeout=10,
            headers={"Content-Type": "application/json", "X-Hub-Signature-256": signature},
        ).status_code


def _redis_ping(port: int) -> bool:
    import redis

    return redis.Redis(port=port, socket_timeout=1).ping()


@pytest.fixture
def stack_factory(tmp_path):
    stacks = []

    def make(**options) -> Stack:
        stack = Stack(tmp_path, **options)
        stacks.append(stack)
        return stack

    yield make
    for stack in stacks:
        stack.close()


def waiting(condition, *, timeout: float, what: str, state) -> None:
    """wait_until, failing with a description of where things stand."""
    try:
        wait_until(condition, timeout=timeout, what=what, interval=1)
    except AssertionError as err:
        raise AssertionError(f"{err}: {state()}") from None


def wait_for_completion(stack: Stack, campaign_id: int, *, timeout: float) -> None:
    def state() -> str:
        webhooks = {key: value for key, value in stack.stats().items() if key.startswith("webhook")}
        events = stack.query("SELECT state, COUNT(*) FROM deliveries_webhookevent GROUP BY state")
        stuck = stack.query(
            "SELECT id, status, wamid, attempts, attempted_at, accepted_at, error_title FROM deliveries_delivery "
            "WHERE campaign_id = ? AND status IN ('queued', 'sending', 'ambiguous', 'accepted', 'held', 'sent') "
            "ORDER BY id LIMIT 5",
            (campaign_id,),
        )
        log = stack.messages()
        sends = [
            (e["biz_opaque_callback_data"], e["wamid"], e["outcome"], e["answered"])
            for e in log
            if int(e["biz_opaque_callback_data"]) in {row[0] for row in stuck}
        ]
        return (
            f"rows {dict(stack.statuses(campaign_id))}, simulator {webhooks}, webhook events {events}, "
            f"{len(log)} sends; stuck rows {stuck}, their sends {sends}"
        )

    waiting(lambda: stack.campaign_status(campaign_id) == "completed", timeout=timeout, what="completion", state=state)
    # Then every accepted message's last webhook (read, 3 s after acceptance, or failed). A webhook stored while
    # no drainer runs waits for the webhook retry schedule (every minute).
    waiting(
        lambda: not any(stack.statuses(campaign_id)[s] for s in IN_FLIGHT),
        timeout=150,
        what="the last status webhooks",
        state=state,
    )


def assert_exactly_once_and_final_statuses(stack: Stack, campaign_id: int, *, opted_out: set[int]) -> dict:
    log = stack.messages()
    per_recipient = Counter(entry["to"] for entry in log)
    duplicates = {to: n for to, n in per_recipient.items() if n > 1}
    assert duplicates == {}, f"sent more than once: {list(duplicates.items())[:10]}"
    rows = stack.query(
        "SELECT d.id, c.phone, d.status, d.wamid, d.error_code FROM deliveries_delivery d "
        "JOIN contacts_contact c ON c.id = d.contact_id WHERE d.campaign_id = ?",
        (campaign_id,),
    )
    assert {phone(i) for i in opted_out}.isdisjoint(per_recipient), "an opted-out contact was messaged"
    assert {phone(i) for i in opted_out}.isdisjoint(row[1] for row in rows)
    expected_recipients = {row[1] for row in rows if row[2] not in ("skipped", "cancelled")}
    assert set(per_recipient) == expected_recipients, (
        f"missing: {sorted(expected_recipients - set(per_recipient))[:10]}, "
        f"unexpected: {sorted(set(per_recipient) - expected_recipients)[:10]}"
    )
    by_id = {row[0]: row for row in rows}
    wrong = []
    for entry in log:
        row = by_id[int(entry["biz_opaque_callback_data"])]
        outcome = entry["outcome"]
        expected = ("failed", int(outcome.split(":")[1])) if outcome.startswith("failed:") else ("read", None)
        if (row[3], row[2], row[4] if expected[0] == "failed" else None) != (entry["wamid"], *expected):
            wrong.append((row, entry["wamid"], outcome))
    assert wrong == [], f"{len(wrong)} rows disagree with the simulator, e.g. {wrong[:5]}"
    return {"sent": len(log), "rows": len(rows)}


def sliding_window_max(timestamps: list[float]) -> int:
    ordered, best, start = sorted(timestamps), 0, 0
    for end, moment in enumerate(ordered):
        while moment - ordered[start] >= 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


FAULTS = [
    "--http-500-share",
    "0.05",
    "--timeout-after-accept-share",
    "0.02",
    "--timeout-hang-ms",
    "3000",
    "--webhook-duplicate-share",
    "0.1",
]


def _faulty_campaign_with_kills(stack_factory, *, contacts: int, kills: list[float], timeout: float) -> None:
    stack = stack_factory()
    # The number may send 150/s; the simulator allows 40/s: 130429 bursts until the bucket adapts.
    stack.start(simulator_flags=[*FAULTS, "--throughput", "40"])
    opted_out = set(range(0, contacts, 50))
    campaign_id = stack.setup(contacts=contacts, opted_out=opted_out, throughput=150)
    stack.service("campaign_launch", campaign_id)
    eligible = contacts - len(opted_out)
    for share in kills:
        wait_until(
            lambda share=share: stack.stats()["accepted"] >= share * eligible,
            timeout=timeout,
            what=f"{share:.0%} of the sends",
            interval=0.2,
        )
        stack.qcluster_kill(stack.qclusters[0])
        stack.qcluster_start()
    wait_for_completion(stack, campaign_id, timeout=timeout)
    assert stack.stats()["rejected"].get("130429", 0) > 0, "the run was meant to hit Meta's throughput limit"
    result = assert_exactly_once_and_final_statuses(stack, campaign_id, opted_out=opted_out)
    assert result["rows"] == eligible


@pytest.mark.skipif(POSTGRES, reason="the PostgreSQL run does the full-size version")
def test_smoke_faults_and_a_sigkill_sqlite(stack_factory):
    _faulty_campaign_with_kills(stack_factory, contacts=400, kills=[0.3], timeout=240)


@pytest.mark.skipif(not POSTGRES, reason="full size on PostgreSQL; SQLite runs the smoke variant")
def test_two_thousand_recipients_with_faults_and_two_sigkills(stack_factory):
    _faulty_campaign_with_kills(stack_factory, contacts=2000, kills=[0.25, 0.6], timeout=360)


@pytest.mark.skipif(not POSTGRES, reason="two qclusters with Redis: PostgreSQL only (SQLite has one writer)")
def test_two_qclusters_with_redis_share_the_rate_limit(stack_factory):
    stack = stack_factory(redis=True)
    stack.start(simulator_flags=[*FAULTS[:-2], "--webhook-duplicate-share", "0.1", "--throughput", "80"], qclusters=2)
    opted_out = set(range(0, 2000, 50))
    campaign_id = stack.setup(contacts=2000, opted_out=opted_out, throughput=80, concurrency=4)
    stack.service("campaign_launch", campaign_id)
    wait_for_completion(stack, campaign_id, timeout=300)
    assert_exactly_once_and_final_statuses(stack, campaign_id, opted_out=opted_out)
    assert stack.stats()["rejected"].get("130429", 0) == 0
    assert sliding_window_max([entry["accepted_at"] for entry in stack.messages()]) <= 88


def test_pause_resume_cancel_and_a_template_paused_webhook(stack_factory):
    stack = stack_factory()
    stack.start(simulator_flags=["--throughput", "1000"])
    campaign_id = stack.setup(contacts=600, opted_out=set(), throughput=20)
    stack.service("campaign_launch", campaign_id)
    wait_until(lambda: stack.stats()["accepted"] >= 20, timeout=60, what="the first sends")

    stack.shell(
        "from wacampaigns.services import campaign_pause; from wacampaigns.models import Campaign; "
        f"campaign_pause(campaign=Campaign.objects.get(pk={campaign_id}), reason='staff')"
    )
    # In-flight requests finish; then nothing is sent while paused.
    time.sleep(2)  # the quiet period is measured, not awaited
    paused_at = stack.stats()["accepted"]
    time.sleep(3)
    assert stack.stats()["accepted"] == paused_at
    assert stack.statuses(campaign_id)["sending"] == 0

    stack.service("campaign_resume", campaign_id)
    wait_until(lambda: stack.stats()["accepted"] >= paused_at + 20, timeout=60, what="sending to resume")

    # Meta pauses the template: the webhook pauses the campaign.
    document = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": WABA_ID,
                "time": int(time.time()),
                "changes": [
                    {
                        "field": "message_template_status_update",
                        "value": {
                            "event": "PAUSED",
                            "message_template_id": 1689556908129832,
                            "message_template_name": "spring_sale",
                            "message_template_language": "en_US",
                            "reason": None,
                            "other_info": {"title": "FIRST_PAUSE", "description": "Paused for 3 hours."},
                        },
                    }
                ],
            }
        ],
    }
    assert stack.post_signed_webhook(document) == 200
    wait_until(lambda: stack.campaign_status(campaign_id) == "paused", timeout=20, what="the template pause")
    assert (
        "spring_sale" in stack.query("SELECT pause_reason FROM wacampaigns_campaign WHERE id = ?", (campaign_id,))[0][0]
    )
    time.sleep(2)
    quiet = stack.stats()["accepted"]
    time.sleep(2)
    assert stack.stats()["accepted"] == quiet

    cancelled = int(stack.service("campaign_cancel", campaign_id))
    assert cancelled > 0
    counts = stack.statuses(campaign_id)
    assert counts["queued"] == 0
    assert counts["sending"] == 0
    assert counts["cancelled"] == cancelled
    assert len(stack.messages()) == stack.stats()["accepted"] == 600 - cancelled - counts["skipped"]
