"""The integration API (django-ninja): routes parse, call a service, and answer; errors become JSON bodies."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from ninja import Header, NinjaAPI, Path, Status
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.security import HttpBearer

from deliveries.api import contacts as contact_services
from deliveries.api import idempotency
from deliveries.api.errors import ApiError, InvalidApiKey, InvalidRequest, MalformedRequest, RateLimited
from deliveries.api.keys import api_key_authenticate, api_key_rate_limit_take
from deliveries.api.messages import (
    MessageRequest,
    api_message_get,
    api_message_send,
    message_representation,
)
from deliveries.api.models import ApiKey
from deliveries.api.schemas import (
    PHONE_PATTERN,
    SEND_DESCRIPTION,
    ContactOut,
    ContactUpsert,
    Error,
    MessageCreate,
    MessageOut,
    OptOutIn,
    Ping,
)

AUTH_ERRORS = {401: Error, 429: Error}
BODY_ERRORS = {400: Error, 422: Error}


class ApiKeyBearer(HttpBearer):
    """`Authorization: Bearer wac_…`: authenticates the key and counts the request against its rate limit."""

    openapi_description = "An API key created in the admin (API keys → Add), shown once."

    def __call__(self, request: HttpRequest) -> ApiKey:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise InvalidApiKey("Send the API key as `Authorization: Bearer wac_…`.")
        return self.authenticate(request, token.strip())

    def authenticate(self, request: HttpRequest, token: str) -> ApiKey:
        api_key = api_key_authenticate(token)
        api_key_rate_limit_take(api_key)
        return api_key


api = NinjaAPI(
    title="wacampaigns integration API",
    version="1",
    description=(
        "Send transactional WhatsApp templates, keep contacts and consent in sync, and read message statuses. "
        "Every error answers `{code, message, details}`. Events (message status, inbound replies, opt-outs) are "
        "POSTed to the subscriptions set up in the admin, signed with `X-Wacampaigns-Signature: sha256=<HMAC-SHA256 "
        "of the body with the subscription's secret>`."
    ),
    auth=ApiKeyBearer(),
    urls_namespace="api-v1",
    openapi_url="/openapi.json",
    docs_url="/docs",
)


def _error_response(request: HttpRequest, error: ApiError) -> HttpResponse:
    response = api.create_response(request, error.body(), status=error.status)
    if isinstance(error, RateLimited):
        response["Retry-After"] = str(error.retry_after)
    return response


@api.exception_handler(ApiError)
def _api_error(request, exc: ApiError):
    return _error_response(request, exc)


@api.exception_handler(ValidationError)
def _validation_error(request, exc: ValidationError):
    errors = [
        {"location": ".".join(str(part) for part in error.get("loc", ())), "problem": str(error.get("msg", ""))}
        for error in exc.errors
    ]
    summary = "; ".join(f"{error['location']}: {error['problem']}" for error in errors[:5])
    return _error_response(
        request, InvalidRequest(f"The request does not match the schema: {summary}.", details={"errors": errors})
    )


@api.exception_handler(AuthenticationError)
def _authentication_error(request, exc: AuthenticationError):
    return _error_response(request, InvalidApiKey("Send the API key as `Authorization: Bearer wac_…`."))


@api.exception_handler(HttpError)
def _http_error(request, exc: HttpError):
    if exc.status_code == 400:
        return _error_response(request, MalformedRequest("The body is not valid JSON: send a JSON object."))
    error = ApiError(str(exc))
    error.status = exc.status_code
    error.code = "http_error"
    return _error_response(request, error)


@api.get("/ping", response={200: Ping, **AUTH_ERRORS}, summary="Check an API key", tags=["keys"])
def ping(request):
    """Answers 200 with the key's WhatsApp account when the key is valid (and counts against its rate limit)."""
    return Status(200, {"ok": True, "business_account": request.auth.business_account.waba_id})


@api.post(
    "/messages",
    response={202: MessageOut, **AUTH_ERRORS, **BODY_ERRORS, 409: Error},
    summary="Send a template message",
    description=SEND_DESCRIPTION,
    tags=["messages"],
)
def message_create(
    request,
    payload: MessageCreate,
    idempotency_key: str | None = Header(
        None,
        alias="Idempotency-Key",
        description="Any unique string per operation (e.g. a UUID, or your order id): repeats within 24 h are safe.",
    ),
):
    key = idempotency.idempotency_key_clean(idempotency_key)
    message = MessageRequest(
        to=payload.to,
        template_name=payload.template.name,
        language=payload.template.language,
        parameters=payload.parameters,
        sender=payload.sender,
        contact_name=payload.contact.name if payload.contact else None,
        contact_language=payload.contact.language if payload.contact else None,
        contact_attributes=payload.contact.attributes if payload.contact else None,
    )
    fingerprint = (
        idempotency.request_fingerprint(method="POST", path="/messages", payload=payload.dict()) if key else ""
    )
    answer = api_message_send(api_key=request.auth, request=message, idempotency_key=key, fingerprint=fingerprint)
    # The body was made by MessageOut (a replay's too, when it was first answered): not validated a second time.
    return api.create_response(request, answer.body, status=answer.status)


@api.get(
    "/messages/{message_id}",
    response={200: MessageOut, **AUTH_ERRORS, 404: Error, 422: Error},
    summary="A message's status",
    tags=["messages"],
)
def message_detail(request, message_id: int = Path(..., ge=1, le=2**63 - 1)):
    """Status, the time of each status, and the error if it failed or was skipped."""
    return Status(200, message_representation(api_message_get(api_key=request.auth, message_id=message_id)))


def _consent(consent) -> contact_services.ConsentInput | None:
    if consent is None:
        return None
    return contact_services.ConsentInput(consent.kind, consent.scope, consent.occurred_at, consent.evidence)


@api.put(
    "/contacts/{phone}",
    response={200: ContactOut, 201: ContactOut, **AUTH_ERRORS, **BODY_ERRORS},
    summary="Create or update a contact",
    tags=["contacts"],
)
def contact_put(
    request,
    payload: ContactUpsert,
    phone: str = Path(..., pattern=PHONE_PATTERN, examples=["+34612345678"], description="E.164, with or without +."),
):
    """Creates the contact (201) or updates it (200): fields left out are kept; `attributes` and `tags` replace
    the current ones when given. `consent` records one opt-in or opt-out event (source: API). An opt-in after an
    opt-out needs `consent.evidence` (how the person asked again). All or nothing."""
    contact, created = contact_services.contact_put(
        api_key=request.auth,
        phone=phone,
        name=payload.name,
        language=payload.language,
        attributes=payload.attributes,
        tags=payload.tags,
        consent=_consent(payload.consent),
    )
    return Status(201 if created else 200, contact_services.contact_representation(contact))


@api.post(
    "/contacts/{phone}/opt-out",
    response={200: ContactOut, **AUTH_ERRORS, **BODY_ERRORS},
    summary="Record an opt-out",
    tags=["contacts"],
)
def contact_opt_out(
    request,
    phone: str = Path(..., pattern=PHONE_PATTERN, examples=["+34612345678"], description="E.164, with or without +."),
    payload: OptOutIn | None = None,
):
    """Records an opt-out (default scope: marketing) for the number, creating the contact if it is unknown so that
    no later send or import reaches them."""
    payload = payload or OptOutIn()
    contact = contact_services.contact_opt_out_from_api(
        api_key=request.auth,
        phone=phone,
        consent=contact_services.ConsentInput("opt_out", payload.scope, payload.occurred_at, payload.evidence),
    )
    return Status(200, contact_services.contact_representation(contact))


@api.get(
    "/contacts/{phone}",
    response={200: ContactOut, **AUTH_ERRORS, 404: Error, 422: Error},
    summary="A contact and its consent",
    tags=["contacts"],
)
def contact_detail(
    request,
    phone: str = Path(..., pattern=PHONE_PATTERN, examples=["+34612345678"], description="E.164, with or without +."),
):
    return Status(200, contact_services.contact_representation(contact_services.contact_by_phone(phone)))
