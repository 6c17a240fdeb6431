"""The simulator's own endpoints under `/_sim/`: message log, stats, config, reset, inbound injection."""

from __future__ import annotations

import dataclasses
import json
import time
from urllib.parse import parse_qs

from .config import ConfigError
from .http_server import Reply, Request
from .send_validation import recipient_wa_id
from .state import SimulatorState, log_entry_object
from .webhook_dispatcher import WebhookDispatcher, WebhookJob
from .webhook_payloads import inbound_message, inbound_message_value, messages_envelope

_COMPACT = (",", ":")


def _json(payload, status: int = 200) -> Reply:
    return Reply(status, json.dumps(payload, separators=_COMPACT).encode())


def _problem(message: str, status: int = 400) -> Reply:
    return _json({"error": message}, status)


def handle_control(state: SimulatorState, dispatcher: WebhookDispatcher, request: Request, action: str) -> Reply:
    """Route `/_sim/<action>`; these endpoints need no token and are never faulted."""
    route = (request.method, action)
    if route == ("GET", "messages"):
        return _messages(state, request)
    if route == ("GET", "stats"):
        return _json(stats_snapshot(state, dispatcher))
    if route == ("GET", "config"):
        return _json(state.config.as_dict() | {"seed": state.seed})
    if route == ("POST", "config"):
        return _update_config(state, request)
    if route == ("POST", "reset"):
        dispatcher.clear()
        with state.lock:
            state.reset()
        return _json({"reset": True})
    if route == ("POST", "inbound"):
        return _inject_inbound(state, dispatcher, request)
    return _problem(f"no control endpoint {request.method} /_sim/{action}", 404)


def stats_snapshot(state: SimulatorState, dispatcher: WebhookDispatcher) -> dict:
    """Counts for tests and benchmarks: sends accepted and rejected by code, webhooks, faults."""
    with state.lock:
        stats = dataclasses.asdict(state.stats)
        stats["logged"] = len(state.log)
    counters = dataclasses.asdict(dispatcher.counters)
    stats.update(
        seed=state.seed,
        webhooks_posted=counters["posted"],
        webhooks_failed=counters["failed_attempts"],
        webhooks_retried=counters["retried"],
        webhooks_given_up=counters["given_up"],
        webhooks_pending=counters["pending_jobs"],
        webhook_items_delivered=counters["items_delivered"],
        webhook_duplicates_posted=counters["duplicates_posted"],
        webhook_auto_batched_posts=counters["auto_batched_posts"],
        webhook_answers=counters["by_status_code"],
        webhook_last_error=counters["last_error"],
    )
    return stats


def _messages(state: SimulatorState, request: Request) -> Reply:
    query = parse_qs(request.query)
    since = (query.get("since") or ["0"])[0]
    if not since.isdigit():
        return _problem("since must be a non-negative integer index")
    with state.lock:
        entries = state.log[int(since) :]
    body = json.dumps([log_entry_object(entry) for entry in entries], separators=_COMPACT).encode()
    return Reply(200, body)


def _update_config(state: SimulatorState, request: Request) -> Reply:
    try:
        changes = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        return _problem("body must be a JSON object")
    if not isinstance(changes, dict):
        return _problem("body must be a JSON object")
    with state.lock:
        try:
            state.config = state.config.updated(changes)
        except ConfigError as error:
            return _problem(str(error))
        limits = {"throughput_per_second", "throughput_burst", "pair_rate_per_second", "pair_burst"}
        if limits & set(changes):
            state.rebuild_limits()
        return _json(state.config.as_dict() | {"seed": state.seed})


def _inject_inbound(state: SimulatorState, dispatcher: WebhookDispatcher, request: Request) -> Reply:
    """POST {"from", "text"?, "button_payload"?, "button_text"?, "context_id"?, "phone_number_id"?, "profile_name"?,
    "username"?, "withhold_phone"?}.

    The user's business-scoped id, username and phone appear as the config says (user_ids_enabled,
    usernames_enabled, phoneless_users); "username" sets the username, "withhold_phone": true drops wa_id/from
    for this message only.
    """
    try:
        body = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        return _problem("body must be a JSON object")
    if not isinstance(body, dict) or not isinstance(body.get("from"), str):
        return _problem("'from' (the user's phone number) is required")
    wa_id, valid = recipient_wa_id(body["from"])
    if not valid:
        return _problem("'from' must be 8 to 15 digits, optionally after +")
    config = state.config
    phone_number_id = str(body.get("phone_number_id") or config.phone_number_ids[0])
    if phone_number_id not in config.phone_number_ids:
        return _problem(f"unknown phone_number_id {phone_number_id}")
    now = time.monotonic()
    with state.lock:
        wamid = state.next_id("wamid.HBgL", "in", wa_id)
        state.open_window(phone_number_id, wa_id, now)
        state.stats.inbound_injected += 1
        display = state.display_phone_number(phone_number_id)
        user = state.user_identity(wa_id)
    if body.get("username"):
        user.username = str(body["username"])
    if body.get("withhold_phone") is True:
        user.wa_id = None
        user.user_id = user.user_id or state.business_scoped_user_id(wa_id)
    button = None
    if body.get("button_payload") or body.get("button_text"):
        button = (
            str(body.get("button_payload") or body.get("button_text")),
            str(body.get("button_text") or body.get("button_payload")),
        )
    context = (display, str(body["context_id"])) if body.get("context_id") else None
    message = inbound_message(
        wamid=wamid,
        wa_id=user.wa_id,
        timestamp=int(time.time()),
        text=str(body.get("text", "")),
        button=button,
        context=context,
        from_user_id=user.user_id,
    )
    document = messages_envelope(
        config.waba_id,
        phone_number_id,
        display,
        inbound_message_value(
            wa_id=user.wa_id,
            profile_name=str(body.get("profile_name") or f"Customer {wa_id[-4:]}"),
            message=message,
            user_id=user.user_id,
            username=user.username,
        ),
    )
    if config.webhooks_enabled:
        dispatcher.schedule([(now, WebhookJob(phone_number_id=phone_number_id, document=document))])
    return _json({"id": wamid, "from": wa_id, "user_id": user.user_id, "phone_number_id": phone_number_id})
