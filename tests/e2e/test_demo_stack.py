"""`make demo`'s two steps as a newcomer runs them: prepare, then the whole stack in the foreground."""

import os
import re
import signal
import sqlite3

import pytest
import requests
from django.core.management import get_commands

from tests.e2e.processes import free_port, group_alive, http_ok, manage, start, stop, wait_until

pytestmark = pytest.mark.e2e


@pytest.fixture
def demo_environment(tmp_path):
    return {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}",
        "DEMO_WEB_PORT": str(free_port()),
        "DEMO_SIMULATOR_PORT": str(free_port()),
        "DEMO_ADMIN_PASSWORD": "demo-password-for-tests",
    }


def _log_in(base_url: str, password: str) -> requests.Session:
    session = requests.Session()
    login_url = f"{base_url}/admin/login/"
    page = session.get(login_url, timeout=5).text
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    response = session.post(
        login_url,
        data={"csrfmiddlewaretoken": token, "username": "admin", "password": password, "next": "/admin/"},
        headers={"Referer": login_url},
        timeout=5,
    )
    assert response.url.endswith("/admin/"), "login failed"
    return session


def test_demo_serves_the_admin_with_demo_data_and_a_running_qcluster(demo_environment, tmp_path):
    prepared = manage("demo_prepare", env=demo_environment)
    assert "Admin login: admin / demo-password-for-tests" in prepared.stdout
    # Running it twice works and changes nothing.
    again = manage("demo_prepare", env=demo_environment)
    assert re.search(r"Demo data: (\d+) contacts", again.stdout).group(1) == re.search(
        r"Demo data: (\d+) contacts", prepared.stdout
    ).group(1)

    stack = start("run_stack", env=demo_environment, log_path=tmp_path / "stack.log")
    base_url = f"http://127.0.0.1:{demo_environment['DEMO_WEB_PORT']}"
    try:
        wait_until(lambda: http_ok(f"{base_url}/admin/login/"), timeout=60, what="the web server")
        session = _log_in(base_url, "demo-password-for-tests")
        campaigns = session.get(f"{base_url}/admin/wacampaigns/campaign/", timeout=5).text
        assert "Spring sale (demo)" in campaigns
        stylesheet = session.get(f"{base_url}/static/admin/css/base.css", timeout=5)
        assert stylesheet.status_code == 200
        assert "DJANGO Admin styles" in stylesheet.text

        # The qcluster runs tasks (successes are not stored: save_limit=-1): enqueue one with a visible effect.
        manage(
            "shell",
            "-c",
            "from django_q.tasks import async_task; async_task('django.core.management.call_command',"
            " 'createsuperuser', '--noinput', '--username', 'qcluster-probe', '--email', 'probe@example.com')",
            env=demo_environment,
        )
        database = demo_environment["DATABASE_URL"].removeprefix("sqlite:///")

        def probe_user():
            with sqlite3.connect(database) as connection:
                return connection.execute("SELECT id FROM auth_user WHERE username = 'qcluster-probe'").fetchone()

        assert wait_until(probe_user, timeout=30, what="the qcluster to run a task")

        if "simulate_cloud_api" in get_commands():
            simulator = f"http://127.0.0.1:{demo_environment['DEMO_SIMULATOR_PORT']}/_sim/stats"
            wait_until(lambda: http_ok(simulator), timeout=30, what="the simulator")
    finally:
        exit_code = stop(stack, sig=signal.SIGINT, timeout=30)
    # Ctrl-C stops everything it started.
    assert exit_code == 0, (tmp_path / "stack.log").read_text()[-3000:]
    assert not group_alive(stack.pid)
