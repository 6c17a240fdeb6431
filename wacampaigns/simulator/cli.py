"""Command-line options of the simulator, shared by `manage.py simulate_cloud_api` and `python -m`."""

from __future__ import annotations

import argparse
import logging
import signal
import threading

from .config import SimulatorConfig
from .rate_limits import __doc__ as RATE_LIMITS_DOC
from .server import Simulator

_DEFAULTS = SimulatorConfig()

# (flag, config field, type, help); defaults come from SimulatorConfig.
OPTIONS: list[tuple[str, str, type, str]] = [
    ("--host", "host", str, "address to listen on"),
    ("--port", "port", int, "port to listen on (0: any free port)"),
    ("--callback-url", "callback_url", str, "the app's webhook URL that signed webhooks are posted to"),
    ("--app-secret", "app_secret", str, "app secret that signs X-Hub-Signature-256"),
    ("--access-token", "access_token", str, "the only bearer token accepted (anything else: 190)"),
    ("--waba-id", "waba_id", str, "WhatsApp Business Account id (templates, webhook entry id)"),
    ("--app-id", "app_id", str, "Meta app id shown in config (any numeric id is accepted for /uploads)"),
    ("--seed", "seed", int, "random seed; the same seed and request sequence give the same run (default: random)"),
    ("--messaging-limit-tier", "messaging_limit_tier", str, "whatsapp_business_manager_messaging_limit answered"),
    ("--quality-rating", "quality_rating", str, "quality_rating answered for every number"),
    ("--throughput", "throughput_per_second", float, "per-number token bucket rate R in sends/s (130429 above it)"),
    ("--throughput-burst", "throughput_burst", float, "per-number bucket capacity B (default: R)"),
    ("--pair-rate", "pair_rate_per_second", float, "per (number, recipient) rate in sends/s (131056 above it)"),
    ("--pair-burst", "pair_burst", float, "per (number, recipient) bucket capacity"),
    ("--service-window-seconds", "service_window_seconds", float, "customer service window length (131047 outside)"),
    ("--fail-131026-share", "fail_131026_share", float, "share of template sends failing 131026 (undeliverable)"),
    ("--fail-131049-share", "fail_131049_share", float, "share of marketing sends failing 131049 (per-user limit)"),
    ("--fail-131050-share", "fail_131050_share", float, "share of marketing sends failing 131050 (user stopped)"),
    ("--read-share", "read_share", float, "share of delivered messages that are read"),
    ("--reply-text-share", "reply_text_share", float, "share of sends answered with a text reply"),
    ("--reply-stop-share", "reply_stop_share", float, "share of sends answered with the STOP text"),
    ("--button-tap-share", "button_tap_share", float, "share of sends whose quick-reply button is tapped"),
    ("--paced-share", "paced_share", float, "share of template sends held_for_quality_assessment"),
    ("--paced-release-ms", "paced_release_ms", float, "how much later the statuses of paced sends come"),
    (
        "--paced-fail-share",
        "paced_fail_share",
        float,
        "share of held sends failing 132015 at release; their template becomes PAUSED (webhook)",
    ),
    ("--reply-text", "reply_text", str, "text of simulated replies"),
    ("--stop-text", "stop_text", str, "text of simulated STOP replies"),
    ("--sent-delay-ms", "sent_delay_ms", float, "delay of the sent (or failed) status after acceptance"),
    ("--delivered-delay-ms", "delivered_delay_ms", float, "delay of the delivered status after acceptance"),
    ("--read-delay-ms", "read_delay_ms", float, "delay of the read status after acceptance"),
    ("--reply-delay-ms", "reply_delay_ms", float, "delay of replies after acceptance (at least the read delay)"),
    ("--template-review-ms", "template_review_ms", float, "delay before a submitted template is approved/rejected"),
    ("--template-reject-share", "template_reject_share", float, "share of submitted templates rejected"),
    ("--latency-ms", "latency_ms", float, "latency added to every Graph response"),
    ("--slow-share", "slow_share", float, "fault: share of Graph requests slowed by --slow-ms more"),
    ("--slow-ms", "slow_ms", float, "fault: extra latency of slowed requests"),
    ("--http-500-share", "http_500_share", float, "fault: share of Graph requests answered 500 (nothing accepted)"),
    (
        "--reset-share",
        "reset_share",
        float,
        "fault: share of Graph requests whose connection is reset (nothing accepted)",
    ),
    (
        "--timeout-after-accept-share",
        "timeout_after_accept_share",
        float,
        "fault: share of sends accepted and logged, then left unanswered",
    ),
    ("--timeout-hang-ms", "timeout_hang_ms", float, "fault: how long an unanswered send hangs before closing"),
    ("--webhook-threads", "webhook_threads", int, "webhook POSTs in flight at once (each on its own connection)"),
    ("--webhook-timeout-ms", "webhook_timeout_ms", float, "timeout of each webhook POST"),
    ("--webhook-duplicate-share", "webhook_duplicate_share", float, "fault: share of webhooks posted twice"),
    ("--webhook-drop-share", "webhook_drop_share", float, "fault: share of status webhooks never posted"),
    (
        "--webhook-out-of-order-share",
        "webhook_out_of_order_share",
        float,
        "fault: share of messages whose status webhooks are posted in reverse order",
    ),
    (
        "--webhook-batch-max",
        "webhook_batch_max",
        int,
        "statuses of one number due together are batched up to N per POST",
    ),
    (
        "--webhook-batch-window-ms",
        "webhook_batch_window_ms",
        float,
        "how far ahead statuses may be pulled into a batch",
    ),
    (
        "--webhook-auto-batch-max",
        "webhook_auto_batch_max",
        int,
        "when webhooks fall behind, overdue statuses of one number go up to N per POST (1: never)",
    ),
    (
        "--webhook-auto-batch-lag-ms",
        "webhook_auto_batch_lag_ms",
        float,
        "how late the oldest due webhook must be before overdue statuses are batched",
    ),
    ("--webhook-max-retries", "webhook_max_retries", int, "retries of a webhook answered non-200 (then given up)"),
    ("--webhook-retry-base-ms", "webhook_retry_base_ms", float, "first retry delay; doubles each retry"),
    ("--webhook-retry-max-ms", "webhook_retry_max_ms", float, "longest retry delay"),
]
FLAGS: list[tuple[str, str, str]] = [
    ("--no-webhooks", "webhooks_enabled", "post no webhooks at all"),
    ("--raw-500", "http_500_graph_body", "fault 500s carry an HTML body instead of a Graph error (ambiguous)"),
    ("--timeout-close", "timeout_close_without_answer", "unanswered sends close the connection instead of hanging"),
    (
        "--reengagement-as-status",
        "reengagement_error_as_status",
        "text outside the window is accepted and fails with a 131047 status (else refused with 131047)",
    ),
    ("--log-requests", "log_requests", "log every request (slow; off by default)"),
    ("--no-user-ids", "user_ids_enabled", "omit the 2026 business-scoped user ids (user_id, from_user_id, ...)"),
    ("--usernames", "usernames_enabled", "inbound contacts carry profile.username"),
    (
        "--phoneless-users",
        "phoneless_users",
        "users withhold their phone number: inbound messages carry no wa_id/from (implies --usernames)",
    ),
]

DESCRIPTION = "Run a fake WhatsApp Cloud API (Graph wire format) on a loopback port.\n\n" + (RATE_LIMITS_DOC or "")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add every simulator option, with its default in the help text."""
    for flag, name, kind, help_text in OPTIONS:
        default = getattr(_DEFAULTS, name)
        parser.add_argument(flag, dest=name, type=kind, default=None, help=f"{help_text} (default: {default})")
    parser.add_argument(
        "--phone-number-id",
        dest="phone_number_ids",
        action="append",
        default=None,
        help=f"business phone number id; repeat for several (default: {_DEFAULTS.phone_number_ids[0]})",
    )
    for flag, name, help_text in FLAGS:
        parser.add_argument(flag, dest=name, action="store_true", default=None, help=help_text)


def config_from_options(options: dict) -> SimulatorConfig:
    """A SimulatorConfig from parsed options (None means: keep the default)."""
    values = {}
    for _, name, _, _ in OPTIONS:
        if options.get(name) is not None:
            values[name] = options[name]
    if options.get("phone_number_ids"):
        values["phone_number_ids"] = options["phone_number_ids"]
    for _, name, _ in FLAGS:
        if options.get(name):
            values[name] = name not in ("webhooks_enabled", "http_500_graph_body", "user_ids_enabled")
    return SimulatorConfig(**values)


def run(config: SimulatorConfig, announce=print) -> None:
    """Serve until SIGINT or SIGTERM."""
    if config.log_requests:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    simulator = Simulator(config)

    def stop(signum, frame):
        # stop() waits for serve_forever() to return, which runs in this very thread: stop from another one.
        threading.Thread(target=simulator.stop, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    announce(
        f"Cloud API simulator listening on {simulator.base_url} (seed {simulator.state.seed}); "
        f"webhooks to {config.callback_url}"
    )
    simulator.serve_forever()
    simulator.dispatcher.stop()
