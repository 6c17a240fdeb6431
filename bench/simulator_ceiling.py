"""How many template sends/s the simulator accepts (webhooks on) beside a minimal keep-alive HTTP server.

Usage: .venv/bin/python bench/simulator_ceiling.py [--seconds 7] [--processes 2] [--connections 4]

Starts, on loopback: a webhook sink that answers 200, the simulator (`python -m wacampaigns.simulator`,
limits lifted, statuses due within ~0.1 s so webhooks flow during the measured runs) and two servers
answering the exact bytes the simulator answers a send with:

- the baseline: Python's stdlib `http.server.ThreadingHTTPServer` with a `BaseHTTPRequestHandler`
  (HTTP/1.1 keep-alive, body read by Content-Length, the answer written in one write), the minimal
  keep-alive HTTP server of this language;
- for reference only, a bare threaded socket server that does almost no HTTP work (`raw_socket_per_s`).

The same keep-alive clients (raw sockets, several processes) drive each server in turn for a fixed time,
the baseline and the simulator twice, alternating; it prints one JSON object. Bounded: about 50 s.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import socket
import socketserver
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
TOKEN = "simulator-access-token"
PHONE_NUMBER_ID = "100000000000001"
SEND_BODY = json.dumps(
    {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "+16505551234",
        "type": "template",
        "biz_opaque_callback_data": "delivery-1",
        "template": {
            "name": "spring_sale",
            "language": {"code": "en_US"},
            "components": [
                {
                    "type": "body",
                    "parameters": [{"type": "text", "text": "Maria"}, {"type": "text", "text": "SPRING20"}],
                }
            ],
        },
    },
    separators=(",", ":"),
).encode()
RUNS_EACH = 2


def _request_bytes(port: int) -> bytes:
    head = (
        f"POST /v25.0/{PHONE_NUMBER_ID}/messages HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\nContent-Length: {len(SEND_BODY)}\r\n\r\n"
    )
    return head.encode() + SEND_BODY


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve_stdlib(port: int, response: bytes) -> None:
    """The baseline: stdlib ThreadingHTTPServer, keep-alive, body read by Content-Length, one write per answer."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.wfile.write(response)

        def log_message(self, *args):
            pass

    class Server(ThreadingHTTPServer):
        request_queue_size = 256

    Server(("127.0.0.1", port), Handler).serve_forever()


def serve_raw(port: int, response: bytes) -> None:
    """A bare threaded socket server: read a request line, headers and a Content-Length body; write fixed bytes."""

    class Handler(socketserver.BaseRequestHandler):
        def handle(self):
            sock = self.request
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            reader = sock.makefile("rb")
            while True:
                if not reader.readline():
                    return
                length = 0
                while True:
                    line = reader.readline()
                    if line in (b"\r\n", b""):
                        break
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                if length:
                    reader.read(length)
                sock.sendall(response)

    class Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
        daemon_threads = True
        allow_reuse_address = True
        request_queue_size = 256

    Server(("127.0.0.1", port), Handler).serve_forever()


def _client(port: int, connections: int, seconds: float, results) -> None:
    """One client process: `connections` threads, each a keep-alive connection sending back-to-back."""
    request = _request_bytes(port)
    counts = []

    def drive():
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        reader = sock.makefile("rb")
        done = 0
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            sock.sendall(request)
            status = reader.readline()
            length = 0
            while True:
                line = reader.readline()
                if line in (b"\r\n", b""):
                    break
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            reader.read(length)
            if b" 200 " in status:
                done += 1
        sock.close()
        counts.append(done)

    threads = [threading.Thread(target=drive) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results.put(sum(counts))


def _drive(port: int, processes: int, connections: int, seconds: float) -> float:
    results = multiprocessing.Queue()
    workers = [
        multiprocessing.Process(target=_client, args=(port, connections, seconds, results), daemon=True)
        for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    total = sum(results.get(timeout=seconds + 30) for _ in workers)
    for worker in workers:
        worker.join(timeout=10)
    return total / seconds


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _get_json(url: str):
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback URL built here
        return json.loads(response.read())


def _wait_until_up(port: int, deadline_seconds: float = 20) -> None:
    deadline = time.monotonic() + deadline_seconds
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            threading.Event().wait(0.05)


def _first_send(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(_request_bytes(port))
        reader = sock.makefile("rb")
        head = b""
        length = 0
        while True:
            line = reader.readline()
            head += line
            if line in (b"\r\n", b""):
                break
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        return head + reader.read(length)


def _start(target, *args) -> multiprocessing.Process:
    process = multiprocessing.Process(target=target, args=args, daemon=True)
    process.start()
    return process


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=7.0, help="length of each measured run")
    parser.add_argument("--processes", type=int, default=2, help="client processes")
    parser.add_argument("--connections", type=int, default=4, help="keep-alive connections per client process")
    parser.add_argument(
        "--webhook-batch-max", type=int, default=1, help="simulator's forced webhook batching (1: none)"
    )
    options = parser.parse_args()

    sink_port, simulator_port, baseline_port, raw_port = (_free_port() for _ in range(4))
    processes = [_start(serve_raw, sink_port, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")]
    simulator = subprocess.Popen(
        [
            sys.executable, "-m", "wacampaigns.simulator", "--port", str(simulator_port), "--seed", "1",
            "--callback-url", f"http://127.0.0.1:{sink_port}/webhooks/whatsapp/",
            "--throughput", "1000000000", "--pair-burst", "1000000000",
            "--sent-delay-ms", "20", "--delivered-delay-ms", "50", "--read-delay-ms", "100", "--reply-delay-ms", "100",
            "--webhook-batch-max", str(options.webhook_batch_max),
        ],
        cwd=PROJECT,
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    stats_url = f"http://127.0.0.1:{simulator_port}/_sim/stats"
    drive = [options.processes, options.connections]
    try:
        _wait_until_up(simulator_port)
        response = _first_send(simulator_port)
        processes += [_start(serve_stdlib, baseline_port, response), _start(serve_raw, raw_port, response)]
        _wait_until_up(baseline_port)
        _wait_until_up(raw_port)
        for port in (baseline_port, raw_port, simulator_port):  # warm up every server and the clients
            _drive(port, *drive, 1.0)
        raw_per_s = _drive(raw_port, *drive, options.seconds)
        baseline_rates, simulator_rates = [], []
        cpu = sends = baseline_cpu = baseline_requests = 0.0
        before = _get_json(stats_url)
        for _ in range(RUNS_EACH):
            cpu_before = _cpu_seconds(processes[1].pid)
            rate = _drive(baseline_port, *drive, options.seconds)
            baseline_cpu += _cpu_seconds(processes[1].pid) - cpu_before
            baseline_requests += rate * options.seconds
            baseline_rates.append(rate)
            cpu_before = _cpu_seconds(simulator.pid)
            rate = _drive(simulator_port, *drive, options.seconds)
            cpu += _cpu_seconds(simulator.pid) - cpu_before
            sends += rate * options.seconds
            simulator_rates.append(rate)
        after = _get_json(stats_url)
    finally:
        simulator.terminate()
        try:
            simulator.wait(timeout=10)
        except subprocess.TimeoutExpired:
            simulator.kill()
        for process in processes:
            process.kill()
            process.join(timeout=5)
    simulator_per_s = sum(simulator_rates) / len(simulator_rates)
    baseline_per_s = sum(baseline_rates) / len(baseline_rates)
    print(
        json.dumps(
            {
                "simulator_sends_per_s": round(simulator_per_s),
                "baseline_per_s": round(baseline_per_s),
                "ratio": round(simulator_per_s / baseline_per_s, 3),
                "simulator_cpu_seconds_per_request": round(cpu / sends, 7) if sends else None,
                "baseline_cpu_seconds_per_request": round(baseline_cpu / baseline_requests, 7),
                "raw_socket_per_s": round(raw_per_s),
                "ratio_to_raw_socket": round(simulator_per_s / raw_per_s, 3),
                "simulator_runs_per_s": [round(rate) for rate in simulator_rates],
                "baseline_runs_per_s": [round(rate) for rate in baseline_rates],
                "accepted_in_window": after["accepted"] - before["accepted"],
                "webhooks_posted_in_window": after["webhooks_posted"] - before["webhooks_posted"],
                "webhook_items_delivered_in_window": after["webhook_items_delivered"]
                - before["webhook_items_delivered"],
                "webhooks_failed_in_window": after["webhooks_failed"] - before["webhooks_failed"],
                "webhook_items_pending_at_end": after["webhooks_pending"],
                "cores": os.cpu_count(),
                "parameters": {
                    "seconds_per_run": options.seconds,
                    "runs_each": RUNS_EACH,
                    "raw_socket_runs": 1,
                    "client_processes": options.processes,
                    "connections_per_process": options.connections,
                    "webhook_batch_max": options.webhook_batch_max,
                    "status_delays_ms": {"sent": 20, "delivered": 50, "read": 100, "reply": 100},
                    "baseline": "stdlib http.server.ThreadingHTTPServer + BaseHTTPRequestHandler (HTTP/1.1 "
                    "keep-alive) writing the simulator's exact answer bytes in one write",
                    "raw_socket": "threaded socketserver reading each request and writing the same bytes",
                },
            }
        )
    )


if __name__ == "__main__":
    main()
