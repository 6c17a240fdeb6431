"""A real browser (Debian's Chromium, driven by Playwright) through the admin: log in, import a CSV, create and
launch a campaign against the simulator, wait for it to complete, open its dashboard, and check that the numbers
shown equal a fresh count in the database. Screenshots of every step go to tests/e2e/output/ (git-ignored).

A missing Chromium fails the test: `make test` installs it (tests/system_packages.py).
"""

import contextlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import requests

from tests.e2e.processes import MANAGE, ROOT, free_port, http_ok, wait_until

pytestmark = pytest.mark.e2e

OUTPUT = Path(__file__).resolve().parent / "output" / "browser_dashboard"
PASSWORD = "browser-test-password"
POSTGRES = os.environ.get("DATABASE_URL", "").startswith("postgres")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-gpu",
]
HELLO_WORLD = [
    {"type": "HEADER", "format": "TEXT", "text": "Hello World"},
    {"type": "BODY", "text": "Welcome and congratulations!! This message comes from the simulator."},
    {"type": "FOOTER", "text": "WhatsApp Business Platform sample message"},
]
SETUP = f"""
import os
from django.contrib.auth import get_user_model
from templates_app.models import MessageTemplate
from wacampaigns.models import BusinessAccount, MetaApp, PhoneNumber
get_user_model().objects.create_superuser("admin", "admin@example.com", "{PASSWORD}")
app = MetaApp.objects.create(name="Simulator app", app_id="300000000000001", app_secret="simulator-app-secret",
                             webhook_verify_token="verify")
account = BusinessAccount.objects.create(meta_app=app, name="Simulator account", waba_id="200000000000001",
    access_token="simulator-access-token", graph_api_base_url=os.environ["E2E_SIMULATOR_URL"],
    graph_api_version="v23.0", messaging_limit_tier="TIER_2K")
PhoneNumber.objects.create(business_account=account, phone_number_id="100000000000001",
    display_phone_number="15550100001", throughput_limit=50)
MessageTemplate.objects.create(business_account=account, name="hello_world", language="en_US",
    category="UTILITY", status="APPROVED", components={HELLO_WORLD!r})
"""
CSV = "phone,name,opted_in,consent_source\n" + "".join(
    f"+3461{index:07d},Browser person {index},yes,web_form\n" for index in range(1, 13)
)
# Campaign facts counted afresh from the rows, the same definitions the dashboard states.
FRESH_COUNTS = {
    "targeted": "1 = 1",
    "sent": "sent_at IS NOT NULL OR delivered_at IS NOT NULL OR read_at IS NOT NULL",
    "delivered": "delivered_at IS NOT NULL OR read_at IS NOT NULL",
    "read": "read_at IS NOT NULL",
    "failed": "status = 'failed'",
    "skipped": "status = 'skipped'",
    "in_flight": "status IN ('queued', 'sending', 'accepted', 'held', 'ambiguous')",
    "replied": "replied_at IS NOT NULL",
    "clicked": "clicked_at IS NOT NULL",
    "opted_out": "opted_out_at IS NOT NULL",
}


def _chromium() -> str:
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("Chromium is not installed: `make test` installs Debian's chromium (tests/system_packages.py)")
    return executable


class Stack:
    """Simulator, web server (gunicorn) and qcluster on loopback ports, over a fresh database of its own
    (PostgreSQL when the suite runs on PostgreSQL, else SQLite)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.database_url = self._database()
        self.web_port, self.simulator_port = free_port(), free_port()
        self.base_url = f"http://127.0.0.1:{self.web_port}"
        self.simulator_url = f"http://127.0.0.1:{self.simulator_port}"
        self.processes: list[subprocess.Popen] = []
        self.env = {
            **os.environ,
            "DATABASE_URL": self.database_url,
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "PUBLIC_BASE_URL": self.base_url,
            "E2E_SIMULATOR_URL": self.simulator_url,
            "SENDER_TIME_BOX_SECONDS": "10",
            "LOG_LEVEL": "WARNING",
        }

    def _database(self) -> str:
        if not POSTGRES:
            return f"sqlite:///{self.folder / 'browser.sqlite3'}"
        import psycopg

        server = os.environ["DATABASE_URL"]
        name = f"browser_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(server.replace("postgres://", "postgresql://"), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return server.rsplit("/", 1)[0] + f"/{name}"

    def manage(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, MANAGE, *args], env=self.env, cwd=ROOT, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout

    def _spawn(self, name: str, *command: str) -> None:
        log = (self.folder / f"{name}.log").open("wb")
        self.processes.append(
            subprocess.Popen(
                command, env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        )

    def start(self) -> None:
        self.manage("migrate", "--no-input")
        self.manage("createcachetable")
        self.manage("shell", "-c", SETUP)
        self._spawn(
            "simulator",
            *(sys.executable, MANAGE, "simulate_cloud_api", "--port", str(self.simulator_port), "--seed", "8"),
            *("--callback-url", f"{self.base_url}/webhooks/whatsapp/", "--fail-131026-share", "0.2"),
            *("--read-share", "0.5", "--reply-text-share", "0.3", "--sent-delay-ms", "100"),
            *("--delivered-delay-ms", "300", "--read-delay-ms", "600", "--reply-delay-ms", "700"),
        )
        self._spawn(
            "web",
            *(sys.executable, "-m", "gunicorn", "wacampaigns.wsgi", "--bind", f"127.0.0.1:{self.web_port}"),
            *("--workers", "2", "--threads", "4", "--no-control-socket"),
        )
        self._spawn("qcluster", sys.executable, MANAGE, "qcluster")
        wait_until(lambda: http_ok(f"{self.simulator_url}/_sim/stats"), timeout=30, what="the simulator")
        wait_until(lambda: http_ok(f"{self.base_url}/admin/login/"), timeout=30, what="the web server")

    def close(self) -> None:
        for process in reversed(self.processes):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        if POSTGRES:
            import psycopg

            with psycopg.connect(self.database_url.replace("postgres://", "postgresql://")) as connection:
                return connection.execute(sql.replace("?", "%s"), params).fetchall()
        with contextlib.closing(sqlite3.connect(self.database_url.removeprefix("sqlite:///"), timeout=30)) as db:
            return db.execute(sql, params).fetchall()

    def fresh_counts(self, campaign_id: int) -> dict[str, int]:
        return {
            name: self.query(
                f"SELECT count(*) FROM deliveries_delivery WHERE campaign_id = ? AND ({condition})",  # noqa: S608
                (campaign_id,),
            )[0][0]
            for name, condition in FRESH_COUNTS.items()
        }


@pytest.fixture
def stack(tmp_path):
    running = Stack(tmp_path)
    try:
        running.start()
        yield running
    finally:
        running.close()


def test_a_campaign_launched_in_the_browser_shows_its_database_numbers_on_the_dashboard(stack, tmp_path):
    from playwright.sync_api import sync_playwright

    executable = _chromium()
    OUTPUT.mkdir(parents=True, exist_ok=True)
    steps = iter(range(1, 100))

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 900})

        def shot(name: str) -> None:
            page.screenshot(path=str(OUTPUT / f"{next(steps):02d}-{name}.png"), full_page=True)

        try:
            # 1. Log in to the admin.
            page.goto(f"{stack.base_url}/admin/login/")
            page.fill("#id_username", "admin")
            page.fill("#id_password", PASSWORD)
            shot("login")
            page.click("input[type=submit]")
            page.wait_for_url(f"{stack.base_url}/admin/")
            shot("admin-index")

            # 2. Import a small CSV (upload, preview, confirm).
            page.goto(f"{stack.base_url}/admin/contacts/contactimport/add/")
            page.set_input_files(
                "#id_file", files=[{"name": "browser.csv", "mimeType": "text/csv", "buffer": CSV.encode()}]
            )
            page.fill("#id_tag_names", "browser")
            shot("import-upload")
            page.click("input[name=_save]")
            page.wait_for_selector("text=Import the 12 valid rows", timeout=30_000)
            shot("import-preview")
            page.click("text=Import the 12 valid rows")
            wait_until(
                lambda: (
                    stack.query("SELECT count(*) FROM contacts_contact WHERE marketing_consent = 'opted_in'")[0][0]
                    == 12
                ),
                timeout=60,
                what="the imported contacts",
            )
            page.reload()
            shot("import-done")

            # 3. Create the campaign.
            page.goto(f"{stack.base_url}/admin/wacampaigns/campaign/add/")
            page.fill("#id_name", "Browser campaign")
            page.select_option("#id_sender", index=1)
            page.select_option("#id_template_name", value="hello_world")
            page.fill("#id_click_target_url", "https://shop.example.com/browser")
            shot("campaign-form")
            page.click("input[name=_continue]")
            page.wait_for_selector("text=Launch…")
            campaign_id = stack.query("SELECT id FROM wacampaigns_campaign WHERE name = 'Browser campaign'")[0][0]
            shot("campaign-saved")

            # 4. Launch it (pre-flight page, then "Launch now").
            page.click("text=Launch…")
            page.wait_for_selector("button[value=now]")
            shot("launch-preflight")
            page.click("button[value=now]")
            page.wait_for_url(f"**/admin/wacampaigns/campaign/{campaign_id}/change/")
            shot("launched")

            # 5. Wait until it completes and the last webhooks have arrived (nothing in flight, counts stable).
            wait_until(
                lambda: (
                    stack.query("SELECT status FROM wacampaigns_campaign WHERE id = ?", (campaign_id,))[0][0]
                    == "completed"
                ),
                timeout=180,
                what="the campaign to complete",
                interval=1,
            )
            previous: dict = {}

            def settled():
                nonlocal previous
                counts = stack.fresh_counts(campaign_id)
                stable = counts == previous and counts["in_flight"] == 0
                previous = counts
                return stable

            wait_until(settled, timeout=60, what="the last status webhooks", interval=2)

            # 6. The dashboard, opened from the campaign page, shows the database's numbers.
            page.reload()
            dashboard_url = f"/dashboards/campaigns/{campaign_id}/"
            assert page.locator(f"a[href='{dashboard_url}']").count() >= 1  # the "View on site" link
            page.goto(stack.base_url + dashboard_url)
            page.wait_for_selector("#analytics-dashboard[data-rendered=true]")
            shot("dashboard")
            shown = {name: int(page.locator(f'[data-figure="{name}"]').inner_text()) for name in FRESH_COUNTS}
            counted = stack.fresh_counts(campaign_id)
            assert shown == counted
            assert counted["targeted"] == 12
            assert counted["sent"] + counted["failed"] >= 12
            assert page.locator("#funnel-chart").bounding_box()["height"] > 100
            failed_codes = stack.query(
                "SELECT error_code, count(*) FROM deliveries_delivery WHERE campaign_id = ? AND status = 'failed' "
                "GROUP BY error_code",
                (campaign_id,),
            )
            for code, count in failed_codes:
                assert int(page.locator(f'[data-figure="failed:{code}"]').inner_text()) == count

            # 7. Drill down from "Delivered" to the recipients behind it.
            page.click('[data-figure="delivered"]')
            page.wait_for_selector("#recipients")
            shot("drill-down-delivered")
            assert page.locator("#recipients tbody tr").count() == min(counted["delivered"], 50) or (
                counted["delivered"] == 0
            )
        finally:
            browser.close()
    assert requests.get(f"{stack.simulator_url}/_sim/stats", timeout=5).status_code == 200
