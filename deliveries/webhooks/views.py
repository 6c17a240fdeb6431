"""The one webhook endpoint for every account: Meta's handshake (GET) and its signed notifications (POST)."""

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseForbidden
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from deliveries.webhooks.ingestion import (
    WebhookBodyRejected,
    WebhookSignatureInvalid,
    webhook_event_receive,
    webhook_verification_challenge,
)
from wacampaigns.whatsapp.signatures import SIGNATURE_HEADER

# request.headers would build a dict of every header on each POST; the one needed is read from META.
SIGNATURE_META_KEY = "HTTP_" + SIGNATURE_HEADER.upper().replace("-", "_")


@csrf_exempt
@require_http_methods(["GET", "POST"])
def whatsapp_webhook(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        challenge = webhook_verification_challenge(
            mode=request.GET.get("hub.mode"),
            verify_token=request.GET.get("hub.verify_token"),
            challenge=request.GET.get("hub.challenge"),
        )
        if challenge is None:
            return HttpResponseForbidden("verification failed", content_type="text/plain")
        return HttpResponse(challenge, content_type="text/plain")
    try:
        webhook_event_receive(body=request.body, signature=request.META.get(SIGNATURE_META_KEY))
    except WebhookSignatureInvalid:
        return HttpResponseForbidden("invalid signature", content_type="text/plain")
    except WebhookBodyRejected:
        return HttpResponseBadRequest("body is not JSON", content_type="text/plain")
    return HttpResponse("ok", content_type="text/plain")
