"""Dashboard pages (staff with `wacampaigns.view_dashboard`, in the admin's look) and the public click redirect."""

from __future__ import annotations

import csv
from functools import wraps

from django.contrib import admin
from django.contrib.auth.decorators import permission_required
from django.http import Http404, HttpResponseRedirect, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils.text import slugify
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from contacts.exporting import cell_neutralize
from deliveries.analytics import clicks, recipients, selectors, summary
from deliveries.analytics.error_codes import error_code_meaning
from wacampaigns.models import Campaign, CampaignStatus

# The page keeps polling its JSON while the campaign can still change.
LIVE_STATUSES = (CampaignStatus.LAUNCHING, CampaignStatus.RUNNING, CampaignStatus.PAUSED)


def dashboard_view(view):
    """Staff only (the admin's login), with the dashboard permission, never cached."""
    protected = permission_required("wacampaigns.view_dashboard", raise_exception=True)(never_cache(view))
    return wraps(view)(admin.site.admin_view(protected))


def _context(request, title: str, **extra) -> dict:
    return {**admin.site.each_context(request), "title": title, **extra}


@dashboard_view
@require_GET
def campaign_dashboard(request, campaign_id: int):
    campaign = get_object_or_404(Campaign.objects.select_related("sender__business_account"), pk=campaign_id)
    numbers = selectors.campaign_numbers_stored(campaign_id=campaign.pk)
    points = selectors.campaign_timeline(campaign_id=campaign.pk)
    payload = summary.dashboard_payload(status=campaign.status, numbers=numbers, points=points)
    return render(
        request,
        "deliveries/analytics/campaign_dashboard.html",
        _context(
            request,
            f"Dashboard: {campaign.name}",
            campaign=campaign,
            figures=summary.headline_figures(numbers),
            skipped=summary.skipped_figures(numbers),
            failed=summary.failed_figures(numbers),
            payload=payload,
            live=campaign.status in LIVE_STATUSES,
        ),
    )


@dashboard_view
@require_GET
def campaign_dashboard_data(request, campaign_id: int):
    status = Campaign.objects.filter(pk=campaign_id).values_list("status", flat=True).first()
    if status is None:
        raise Http404("no such campaign")
    numbers = selectors.campaign_numbers_stored(campaign_id=campaign_id)
    points = selectors.campaign_timeline(campaign_id=campaign_id)
    payload = summary.dashboard_payload(status=status, numbers=numbers, points=points)
    return JsonResponse({**payload, "live": status in LIVE_STATUSES})


def _before(request) -> int | None:
    value = request.GET.get("before", "")
    if not value:
        return None
    if not value.isdigit():
        raise Http404("bad page cursor")
    return int(value)


@dashboard_view
@require_GET
def campaign_recipients(request, campaign_id: int):
    campaign = get_object_or_404(Campaign, pk=campaign_id)
    metric_name, value = request.GET.get("metric", "targeted"), request.GET.get("value", "")
    try:
        metric = recipients.metric_get(metric_name)
        page = recipients.recipients_page(
            campaign_id=campaign.pk, metric=metric_name, value=value, before=_before(request)
        )
    except recipients.UnknownMetric as err:
        raise Http404(str(err)) from err
    label = metric.label
    if value:
        label += f": {error_code_meaning(int(value)) if metric_name == 'failed' else value}"
    return render(
        request,
        "deliveries/analytics/recipients.html",
        _context(
            request,
            f"{label} — {campaign.name}",
            campaign=campaign,
            metric=metric_name,
            value=value,
            page=page,
            first_page=request.GET.get("before") is None,
        ),
    )


class _Echo:
    """A file-like object whose write returns the line: csv.writer's output, one row at a time."""

    def write(self, value):
        return value


@dashboard_view
@require_GET
def campaign_export(request, campaign_id: int):
    campaign = get_object_or_404(Campaign, pk=campaign_id)
    writer = csv.writer(_Echo())

    def lines():
        yield writer.writerow([*recipients.EXPORT_FIELDS, "error_meaning"])
        code_position = recipients.EXPORT_FIELDS.index("error_code")
        for row in recipients.export_rows(campaign_id=campaign.pk):
            meaning = error_code_meaning(row[code_position]) if row[code_position] is not None else ""
            yield writer.writerow([cell_neutralize(_csv_value(cell)) for cell in (*row, meaning)])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    filename = f"campaign-{campaign.pk}-{slugify(campaign.name) or 'results'}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _csv_value(cell):
    if cell is None:
        return ""
    if hasattr(cell, "isoformat"):
        return cell.isoformat()
    return cell


@dashboard_view
@require_GET
def overview(request):
    data = selectors.overview()
    return render(
        request,
        "deliveries/analytics/overview.html",
        _context(
            request,
            f"Overview: the last {selectors.OVERVIEW_DAYS} days",
            overview=data,
            failed=summary.failed_figures(data.totals),
        ),
    )


@never_cache
@require_GET
def click_redirect(request, token: str):
    """Records the click and redirects to the campaign's target URL; an invalid token gets a 404, no redirect."""
    try:
        target = clicks.click_target_resolve(token)
    except clicks.InvalidClickToken as err:
        raise Http404(str(err)) from err
    if not clicks.is_link_preview(request.headers.get("User-Agent", "")):
        clicks.delivery_click_record(delivery_id=target.delivery_id)
    return HttpResponseRedirect(target.url)
