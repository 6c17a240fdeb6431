"""Opt-out link pages: GET asks and changes nothing (link scanners), POST records the choice."""

from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from contacts.models import ConsentKind, ConsentScope, ConsentSource, MarketingConsent
from contacts.opt_out import InvalidOptOutToken, contact_from_opt_out_token, rate_limit_exceeded
from contacts.opt_out_texts import texts_for
from contacts.services import contact_consent_record

_TEMPLATE = "contacts/opt_out.html"


def _page(request, page: str, *, contact=None, status: int = 200, language: str = ""):
    code, texts = texts_for(contact.language if contact else language or request.GET.get("lang", ""))
    return render(request, _TEMPLATE, {"page": page, "t": texts, "lang": code, "contact": contact}, status=status)


def _guarded(view):
    def wrapper(request, token):
        if rate_limit_exceeded(request):
            return _page(request, "limited", status=429)
        try:
            contact = contact_from_opt_out_token(token)
        except InvalidOptOutToken:
            return _page(request, "invalid", status=404)
        return view(request, contact, token)

    return wrapper


@require_http_methods(["GET", "POST"])
@_guarded
def opt_out(request, contact, token):
    if request.method == "POST":
        scope = ConsentScope.ALL if request.POST.get("scope") == ConsentScope.ALL else ConsentScope.MARKETING
        contact_consent_record(
            contact=contact,
            kind=ConsentKind.OPT_OUT,
            scope=scope,
            source=ConsentSource.LINK_PAGE,
            evidence=f"opt-out link page ({scope})",
        )
        return HttpResponseRedirect(reverse("contacts:opt_out_done", kwargs={"token": token}))
    return _page(request, "confirm", contact=contact)


@require_http_methods(["GET", "POST"])
@_guarded
def opt_out_done(request, contact, token):
    if request.method == "POST":
        if contact.marketing_consent == MarketingConsent.OPTED_OUT:
            contact_consent_record(
                contact=contact,
                kind=ConsentKind.OPT_IN,
                scope=ConsentScope.ALL,
                source=ConsentSource.LINK_PAGE,
                evidence="re-subscribed on the opt-out link page",
            )
        return _page(request, "resubscribed", contact=contact)
    return _page(request, "done", contact=contact)
