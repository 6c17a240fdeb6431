"""Runs the whole product in the foreground: web server, one qcluster and the Cloud API simulator.

Ctrl-C (or SIGTERM) stops all of them; if one of them dies, the others are stopped too.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management import BaseCommand, get_commands

GRACE_SECONDS = 10


class Command(BaseCommand):
    help = "Starts gunicorn, a qcluster and the simulator in the foreground; Ctrl-C stops them all."

    def add_arguments(self, parser):
        parser.add_argument("--no-simulator", action="store_true", help="Do not start the Cloud API simulator.")
        parser.add_argument("--web-workers", type=int, default=2)

    def handle(self, *args, **options):
        manage = str(Path(settings.BASE_DIR) / "manage.py")
        host, web_port, simulator_port = settings.DEMO_HOST, settings.DEMO_WEB_PORT, settings.DEMO_SIMULATOR_PORT
        commands = {
            "web": [
                sys.executable,
                "-m",
                "gunicorn",
                "wacampaigns.wsgi",
                "--bind",
                f"{host}:{web_port}",
                "--workers",
                str(options["web_workers"]),
                "--worker-class",
                "gthread",
                "--threads",
                "4",
                "--access-logfile",
                "-",
                "--no-control-socket",
            ],
            "qcluster": [sys.executable, manage, "qcluster"],
        }
        if not options["no_simulator"] and "simulate_cloud_api" in get_commands():
            commands["simulator"] = [
                sys.executable,
                manage,
                "simulate_cloud_api",
                "--host",
                host,
                "--port",
                str(simulator_port),
                "--callback-url",
                f"http://{host}:{web_port}/webhooks/whatsapp/",
            ]
        processes = {
            name: subprocess.Popen(command, start_new_session=True)  # noqa: S603 - our own commands
            for name, command in commands.items()
        }
        stopping = False

        def stop(signum, frame):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        self.stdout.write(
            self.style.SUCCESS(
                f"\nwacampaigns is running: http://{host}:{web_port}/admin/\n"
                f"  admin login: admin / {settings.DEMO_ADMIN_PASSWORD or '(the password printed above)'}\n"
                f"  running: {', '.join(processes)}. Press Ctrl-C to stop.\n"
            )
        )
        exit_code = 0
        while not stopping:
            for name, process in processes.items():
                if process.poll() is not None:
                    self.stderr.write(f"{name} exited with code {process.returncode}; stopping the others.")
                    exit_code = 1
                    stopping = True
                    break
            time.sleep(0.2)
        self._stop_all(processes)
        sys.exit(exit_code)

    def _stop_all(self, processes):
        for process in processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + GRACE_SECONDS
        for process in processes.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self.stdout.write("Stopped.")
