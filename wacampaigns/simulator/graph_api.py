"""The Graph endpoints: sends, phone number info, templates, media and resumable uploads."""

from __future__ import annotations

import base64
import json
import re
import time
from json.encoder import encode_basestring_ascii as json_string  # json.dumps's own (C) string encoder
from urllib.parse import parse_qs, urlencode

from .graph_errors import GraphError, object_not_found
from .http_server import Reply, Request
from .message_outcomes import DRAW_PACED, DRAW_PACED_FAILS, DRAWS_PER_MESSAGE, AcceptedMessage, plan_outcome
from .send_validation import validate_send
from .state import SimulatorState
from .template_catalog import TemplateDefinitionError
from .webhook_dispatcher import WebhookDispatcher, WebhookJob
from .webhook_payloads import template_status_update

VERSION_SEGMENT = re.compile(r"^v\d+(\.\d+)?$")
_COMPACT = (",", ":")


def json_reply(payload, status: int = 200) -> Reply:
    """A JSON answer, compactly encoded."""
    return Reply(status, json.dumps(payload, separators=_COMPACT).encode())


def error_reply(state: SimulatorState, error: GraphError) -> Reply:
    """The Graph error body with a deterministic fbtrace_id."""
    with state.lock:
        trace = state.next_id("A", "trace")[:24]
    return Reply(error.http_status, error.body(trace))


def authenticate(state: SimulatorState, request: Request, query: dict) -> None:
    """Accept `Authorization: Bearer|OAuth <token>` or `?access_token=`; anything else is 190."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() not in ("bearer", "oauth"):
        token = (query.get("access_token") or [""])[0]
    if token.strip() != state.config.access_token:
        raise GraphError(190, "Invalid OAuth access token - Cannot parse access token")


def handle_graph(
    state: SimulatorState, dispatcher: WebhookDispatcher, request: Request, segments: list[str], timeout_fault: bool
) -> Reply:
    """Route an authenticated-or-not Graph request; every GraphError becomes Meta's error body."""
    query = parse_qs(request.query) if request.query else {}
    try:
        authenticate(state, request, query)
        return _route(state, dispatcher, request, segments, query, timeout_fault)
    except GraphError as error:
        with state.lock:
            if len(segments) == 2 and segments[1] == "messages":
                state.count_rejection(error.code)
            else:
                key = str(error.code)
                state.stats.other_errors[key] = state.stats.other_errors.get(key, 0) + 1
        return error_reply(state, error)


def _route(state, dispatcher, request, segments, query, timeout_fault) -> Reply:
    config = state.config
    node = segments[0] if segments else ""
    edge = segments[1] if len(segments) > 1 else None
    method = request.method
    if len(segments) > 2 or not node:
        raise object_not_found(method, "/".join(segments))
    if node in config.phone_number_ids:
        if edge == "messages" and method == "POST":
            return _send(state, dispatcher, request, node, timeout_fault)
        if edge == "media" and method == "POST":
            with state.lock:
                answer = state.media.upload(request.headers.get("content-type", ""), request.body)
                state.stats.media_uploaded += 1
            return json_reply(answer)
        if edge is None and method == "GET":
            return json_reply(_phone_number(state, node, query))
    elif node == config.waba_id:
        if edge == "message_templates" and method == "GET":
            return json_reply(_template_page(state, request, query))
        if edge == "message_templates" and method == "POST":
            return json_reply(_submit_template(state, dispatcher, request))
        if edge == "phone_numbers" and method == "GET":
            data = [_phone_number(state, number, {}) for number in config.phone_number_ids]
            return json_reply({"data": data, "paging": {"cursors": {"before": "QVFI", "after": "QVFI"}}})
    elif edge == "uploads" and method == "POST" and node.isdigit():
        with state.lock:
            answer = state.media.open_session(
                (query.get("file_length") or [None])[0], (query.get("file_type") or [None])[0]
            )
        return json_reply(answer)
    elif node.startswith("upload:") and edge is None:
        with state.lock:
            if method == "POST":
                answer = state.media.append(node, request.headers.get("file_offset"), request.body)
            else:
                answer = state.media.status(node)
        return json_reply(answer)
    raise object_not_found(method, node)


def _send(
    state: SimulatorState, dispatcher: WebhookDispatcher, request: Request, phone_number_id: str, timeout_fault: bool
) -> Reply:
    now = time.monotonic()
    body = invalid_json = None
    if request.body:
        try:
            body = json.loads(request.body)
        except (ValueError, UnicodeDecodeError):
            invalid_json = GraphError(100, "The request body is not valid JSON.")
    paused_template = None
    with state.lock:
        config = state.config
        if not state.throughput.try_take(phone_number_id, now):
            raise GraphError(130429, "Cloud API message throughput has been reached.", subcode=2494055)
        if invalid_json is not None:
            raise invalid_json
        send = validate_send(body, state.catalog, now)
        forced_failure = None
        if send.message_type != "template" and not state.window_is_open(phone_number_id, send.wa_id, now):
            if not config.reengagement_error_as_status:
                raise GraphError(
                    131047,
                    "Message failed to send because more than 24 hours have passed since the customer last replied "
                    "to this number.",
                )
            forced_failure = 131047
        if not state.pair_rate.try_take((phone_number_id, send.wa_id), now):
            raise GraphError(
                131056,
                "Message failed to send because there were too many messages sent from this "
                "phone number to the same phone number in a short period of time.",
            )
        random = state.message_rng.random
        draws = [random() for _ in range(DRAWS_PER_MESSAGE)]
        wamid = state.next_id("wamid.HBgL", send.wa_id, phone_number_id)
        template = send.template
        definition = template.definition if template else None
        category = definition["category"] if definition else None
        paced = category in ("MARKETING", "UTILITY") and draws[DRAW_PACED] < config.paced_share
        if send.header_media_id is not None and not state.media.knows(send.header_media_id):
            forced_failure = forced_failure or 131053
        if paced and forced_failure is None:
            released_at = now + config.paced_release_ms / 1000
            if template.paused_at is not None and released_at >= template.paused_at:
                forced_failure = 132015
            elif draws[DRAW_PACED_FAILS] < config.paced_fail_share:
                forced_failure = 132015
                if template.paused_at is None:
                    template.paused_at = released_at
                    paused_template = template
        message_status = "held_for_quality_assessment" if paced else "accepted"
        wall_now = time.time()
        message = AcceptedMessage(
            wamid=wamid,
            phone_number_id=phone_number_id,
            display_phone_number=state.display_phone_number(phone_number_id),
            wa_id=send.wa_id,
            number_is_valid=send.number_is_valid,
            category=category,
            quick_reply_text=template.shape.quick_reply_text if template else None,
            biz_opaque_callback_data=send.biz_opaque_callback_data,
            paced=paced,
            user=state.user_identity(send.wa_id),
            forced_failure=forced_failure,
        )
        plan = plan_outcome(
            config,
            message,
            draws,
            now=now,
            wall_now=wall_now,
            reply_wamid=lambda: state.next_id("wamid.HBgL", "in", send.wa_id),
        )
        # The order of LOG_FIELDS; rendered as JSON objects only when /_sim/messages asks.
        state.log.append(
            (
                len(state.log),
                wamid,
                phone_number_id,
                send.to_input,
                send.wa_id,
                send.message_type,
                definition["name"] if definition else None,
                send.language,
                category,
                request.body if template else None,  # the components, decoded when the log is read
                send.text_body,
                send.biz_opaque_callback_data,
                message_status if template else None,
                wall_now,
                not timeout_fault,
                plan.outcome,
            )
        )
        stats = state.stats
        stats.accepted += 1
        stats.outcomes[plan.outcome] = stats.outcomes.get(plan.outcome, 0) + 1
        stats.webhooks_dropped_by_fault += plan.dropped
        for inbound_at in plan.inbound_at:
            state.open_window(phone_number_id, send.wa_id, inbound_at)
        if paused_template is not None:
            stats.templates_paused += 1
        if timeout_fault:
            stats.faults["timeout_after_accept"] += 1
    if config.webhooks_enabled:
        jobs = plan.jobs
        if paused_template is not None:
            jobs = [*jobs, (paused_template.paused_at, _paused_job(config, paused_template, wall_now))]
        dispatcher.schedule(jobs)
    if timeout_fault:
        if config.timeout_close_without_answer:
            return Reply(action="close")
        return Reply(action="hang", hang_seconds=config.timeout_hang_ms / 1000)
    status_part = f',"message_status":"{message_status}"' if template else ""
    return Reply(
        200,
        (
            f'{{"messaging_product":"whatsapp","contacts":[{{"input":{json_string(send.to_input)},'
            f'"wa_id":{json_string(send.wa_id)}}}],"messages":[{{"id":"{wamid}"{status_part}}}]}}'
        ).encode(),
    )


def _paused_job(config, template, wall_now: float) -> WebhookJob:
    """The signed `message_template_status_update` PAUSED webhook, due when the template pauses."""
    definition = template.definition
    document = template_status_update(
        waba_id=config.waba_id,
        time=int(wall_now + config.paced_release_ms / 1000),
        template_id=template.id,
        name=definition["name"],
        language=definition["language"],
        category=definition["category"],
        event="PAUSED",
        reason="NONE",
    )
    return WebhookJob(document=document)


def _phone_number(state: SimulatorState, phone_number_id: str, query: dict) -> dict:
    config = state.config
    digits = state.display_phone_number(phone_number_id)
    info = {
        "verified_name": "Simulated Business",
        "display_phone_number": f"+{digits[0]} {digits[1:4]}-{digits[4:7]}-{digits[7:]}",
        "id": phone_number_id,
        "quality_rating": config.quality_rating,
        "throughput": {"level": "STANDARD" if config.throughput_per_second <= 80 else "HIGH"},
        "whatsapp_business_manager_messaging_limit": config.messaging_limit_tier,
        "code_verification_status": "VERIFIED",
        "platform_type": "CLOUD_API",
    }
    fields = (query.get("fields") or [""])[0]
    if fields:
        wanted = {name.strip() for name in fields.split(",")} | {"id"}
        info = {key: value for key, value in info.items() if key in wanted}
    return info


def _template_page(state: SimulatorState, request: Request, query: dict) -> dict:
    first = (query.get("limit") or ["25"])[0]
    limit = int(first) if first.isdigit() and int(first) > 0 else 25
    after = (query.get("after") or [None])[0]
    try:
        start = int(_decode_cursor(after)) if after else 0
    except ValueError:
        raise GraphError(100, "Invalid after cursor.") from None
    with state.lock:
        items = state.catalog.listing(
            time.monotonic(), name=(query.get("name") or [None])[0], status=(query.get("status") or [None])[0]
        )
    page = items[start : start + limit]
    paging: dict = {"cursors": {"before": _encode_cursor(start), "after": _encode_cursor(start + len(page))}}
    if start + limit < len(items):
        next_query = {key: values[0] for key, values in query.items()}
        next_query["after"] = paging["cursors"]["after"]
        host = request.headers.get("host", f"{state.config.host}:{state.config.port}")
        paging["next"] = f"http://{host}{request.path}?{urlencode(next_query)}"
    return {"data": page, "paging": paging}


def _encode_cursor(position: int) -> str:
    return base64.urlsafe_b64encode(f"cursor:{position}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> str:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        raise ValueError(cursor) from None
    if not text.startswith("cursor:"):
        raise ValueError(cursor)
    return text.removeprefix("cursor:")


def _submit_template(state: SimulatorState, dispatcher: WebhookDispatcher, request: Request) -> dict:
    try:
        definition = json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        raise GraphError(100, "The request body is not valid JSON.") from None
    if not isinstance(definition, dict):
        raise GraphError(100, "The request body must be a JSON object.")
    config = state.config
    now = time.monotonic()
    with state.lock:
        rejected = state.message_rng.random() < config.template_reject_share
        reviewed_at = now + config.template_review_ms / 1000
        try:
            template = state.catalog.submit(definition, reviewed_at=reviewed_at, rejected=rejected)
        except TemplateDefinitionError as error:
            if str(error) == "clash":
                raise GraphError(
                    100,
                    f"Content in this language already exists for {definition.get('name')}.",
                    subcode=2388024,
                ) from None
            raise GraphError(100, str(error)) from None
        state.stats.templates_submitted += 1
    document = template_status_update(
        waba_id=config.waba_id,
        time=int(time.time() + config.template_review_ms / 1000),
        template_id=template.id,
        name=template.definition["name"],
        language=template.definition["language"],
        category=template.definition["category"],
        event=template.final_status,
        reason=template.rejection_reason,
    )
    if config.webhooks_enabled:
        dispatcher.schedule([(reviewed_at, WebhookJob(document=document))])
    return {"id": template.id, "status": "PENDING", "category": template.definition["category"]}
