"""How many template sends/s the simulator accepts (webhooks on) beside a minimal keep-alive server.

Usage: .venv/bin/python bench/simulator_ceiling.py [--seconds 8] [--processes 2] [--connections 4]

Starts, on loopback: a webhook sink that answers 200, the simulator (`python -m wacampaigns.simulator`,
limits lifted, statuses due within ~0.1 s so webhooks flow during the run) and a minimal threaded keep-alive
HTTP server answering the exact bytes the simulator answers a send with. The same keep-alive clients
(raw sockets, several processes) drive each server in turn, twice, for a fixed time; prints one JSON object.
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


def serve_fixed(port: int, response: bytes) -> None:
    """The minimal keep-alive server: read a request (headers, Content-Length body), write fixed bytes."""

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
        multiprocessing.Process(target=_client, args=(port, connections, seconds, results)) for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    total = sum(results.get(timeout=seconds + 30) for _ in workers)
    for worker in workers:
        worker.join()
    return total / seconds


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _get_json(url: str):
    with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback URL built here
        return json.loads(response.read())


def _wait_until_up(url: str, deadline_seconds: float = 20) -> None:
    deadline = time.monotonic() + deadline_seconds
    while True:
        try:
            _get_json(url)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=8.0, help="length of each measured run")
    parser.add_argument("--processes", type=int, default=2, help="client processes")
    parser.add_argument("--connections", type=int, default=4, help="keep-alive connections per client process")
    parser.add_argument("--webhook-batch-max", type=int, default=1, help="simulator's webhook batching (1: none)")
    options = parser.parse_args()

    sink_port, simulator_port, baseline_port = _free_port(), _free_port(), _free_port()
    sink = multiprocessing.Process(
        target=serve_fixed, args=(sink_port, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    )
    sink.start()
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
    baseline = None
    try:
        _wait_until_up(f"http://127.0.0.1:{simulator_port}/_sim/stats")
        response = _first_send(simulator_port)
        baseline = multiprocessing.Process(target=serve_fixed, args=(baseline_port, response))
        baseline.start()
        _wait_until_up(f"http://127.0.0.1:{simulator_port}/_sim/stats")
        _drive(baseline_port, options.processes, options.connections, 1.0)  # warm up both
        _drive(simulator_port, options.processes, options.connections, 1.0)
        baseline_rates, simulator_rates = [], []
        cpu, sends = 0.0, 0.0
        for _ in range(2):
            baseline_rates.append(_drive(baseline_port, options.processes, options.connections, options.seconds))
            before = _cpu_seconds(simulator.pid)
            rate = _drive(simulator_port, options.processes, options.connections, options.seconds)
            cpu += _cpu_seconds(simulator.pid) - before
            sends += rate * options.seconds
            simulator_rates.append(rate)
        stats = _get_json(f"http://127.0.0.1:{simulator_port}/_sim/stats")
    finally:
        simulator.terminate()
        simulator.wait(timeout=10)
        for process in (sink, baseline):
            if process is not None:
                process.terminate()
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
                "simulator_runs_per_s": [round(rate) for rate in simulator_rates],
                "baseline_runs_per_s": [round(rate) for rate in baseline_rates],
                "webhooks_posted": stats["webhooks_posted"],
                "webhook_items_delivered": stats["webhook_items_delivered"],
                "webhooks_pending_at_end": stats["webhooks_pending"],
                "accepted": stats["accepted"],
                "cores": os.cpu_count(),
                "parameters": {
                    "seconds_per_run": options.seconds,
                    "runs_each": 2,
                    "client_processes": options.processes,
                    "connections_per_process": options.connections,
                    "webhook_batch_max": options.webhook_batch_max,
                    "baseline": "threaded socketserver reading each request and writing the simulator's exact bytes",
                },
            }
        )
    )


if __name__ == "__main__":
    main()
