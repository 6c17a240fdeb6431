"""Campaign admin sending controls: launch pre-flight page, pause, resume, cancel, retry failed, send test, progress."""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.views.decorators.http import require_POST

from wacampaigns import services
from wacampaigns.models import Campaign, CampaignStatus
from wacampaigns.selectors import STATUS_ORDER, campaign_preflight, campaign_progress

LAUNCH_PERMISSION = "wacampaigns.launch_campaign"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours} h {rest // 60:02d} min" if hours else f"{rest // 60} min {rest % 60:02d} s"


class CampaignSendingAdminMixin:
    """Mixed into CampaignAdmin: every control calls one service and reports with `message_user`."""

    change_form_template = "admin/wacampaigns/campaign/change_form.html"
    actions = [
        "launch_selected",
        "pause_selected",
        "resume_selected",
        "cancel_selected",
        "retry_failed_selected",
        "send_test_selected",
    ]
    CONTROLS = {
        "pause": "Pause",
        "resume": "Resume",
        "cancel": "Cancel",
        "retry_failed": "Retry failed",
        "send_test": "Send test",
    }

    # --- pages -------------------------------------------------------------------------------------

    def get_urls(self):
        info = self.model._meta.app_label, self.model._meta.model_name
        own = [
            path(
                "<int:campaign_id>/launch/",
                self.admin_site.admin_view(self.launch_view),
                name="{}_{}_launch".format(*info),
            ),
            path(
                "<int:campaign_id>/control/<str:control>/",
                self.admin_site.admin_view(require_POST(self.control_view)),
                name="{}_{}_control".format(*info),
            ),
        ]
        return own + super().get_urls()

    def _campaign_for_control(self, request, campaign_id: int) -> Campaign:
        if not request.user.has_perm(LAUNCH_PERMISSION):
            raise PermissionDenied
        return get_object_or_404(Campaign.objects.select_related("sender__business_account"), pk=campaign_id)

    def launch_view(self, request, campaign_id: int):
        """GET: the pre-flight page. POST: launch (or schedule, when a future time is set) and return at once."""
        campaign = self._campaign_for_control(request, campaign_id)
        change_url = reverse("admin:wacampaigns_campaign_change", args=[campaign.pk])
        if request.method == "POST":
            try:
                if request.POST.get("when") == "schedule" and campaign.scheduled_at:
                    services.campaign_schedule(campaign=campaign, at=campaign.scheduled_at, scheduled_by=request.user)
                    self.message_user(
                        request, f"“{campaign}” launches itself at {campaign.scheduled_at:%Y-%m-%d %H:%M}."
                    )
                else:
                    services.campaign_launch(campaign=campaign, launched_by=request.user)
                    self.message_user(
                        request,
                        f"“{campaign}” is launching: the audience is being built and sending starts within seconds.",
                    )
            except services.CampaignActionRefused as err:
                self.message_user(request, f"Not launched: {err}", messages.ERROR)
            return HttpResponseRedirect(change_url)
        preflight = campaign_preflight(campaign)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Launch {campaign}",
            "campaign": campaign,
            "preflight": preflight,
            "estimated": _duration(preflight.estimated_seconds),
            "can_schedule": bool(campaign.scheduled_at and campaign.scheduled_at > timezone.now()),
            "change_url": change_url,
        }
        return TemplateResponse(request, "admin/wacampaigns/campaign/launch.html", context)

    def control_view(self, request, campaign_id: int, control: str):
        campaign = self._campaign_for_control(request, campaign_id)
        if control not in self.CONTROLS:
            raise PermissionDenied
        self._control(request, campaign, control)
        return HttpResponseRedirect(reverse("admin:wacampaigns_campaign_change", args=[campaign.pk]))

    def _control(self, request, campaign: Campaign, control: str) -> None:
        try:
            if control == "pause":
                if not services.campaign_pause(campaign=campaign, reason=f"Paused by {request.user}"):
                    raise services.CampaignActionRefused("it is not sending")
                message = "paused: nothing new is claimed; requests in flight finish"
            elif control == "resume":
                services.campaign_resume(campaign=campaign)
                message = "resumed"
            elif control == "cancel":
                count = services.campaign_cancel(campaign=campaign)
                message = f"cancelled ({count} messages not sent)"
            elif control == "retry_failed":
                count = services.campaign_retry_failed(campaign=campaign)
                message = f"{count} failed messages queued again"
            else:
                count = services.campaign_send_test(campaign=campaign, phones=settings.STAFF_TEST_PHONE_NUMBERS)
                message = f"test message queued to {count} staff numbers"
        except services.CampaignActionRefused as err:
            self.message_user(request, f"“{campaign}”: {self.CONTROLS[control].lower()} refused: {err}", messages.ERROR)
        else:
            self.message_user(request, f"“{campaign}” {message}.")

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        campaign = Campaign.objects.filter(pk=object_id).first()
        if campaign is not None and request.user.has_perm(LAUNCH_PERMISSION):
            extra_context["sending_controls"] = self._available_controls(campaign)
            extra_context["launch_url"] = (
                reverse("admin:wacampaigns_campaign_launch", args=[campaign.pk])
                if campaign.status in services.LAUNCHABLE_STATUSES
                else None
            )
        return super().change_view(request, object_id, form_url, extra_context)

    def _available_controls(self, campaign: Campaign) -> list[tuple[str, str]]:
        status = campaign.status
        available = []
        if status in services.PAUSABLE_STATUSES:
            available.append("pause")
        if status == CampaignStatus.PAUSED:
            available.append("resume")
        if status in (*services.PAUSABLE_STATUSES, CampaignStatus.PAUSED, CampaignStatus.SCHEDULED):
            available.append("cancel")
        if status in (CampaignStatus.RUNNING, CampaignStatus.PAUSED, CampaignStatus.COMPLETED):
            available.append("retry_failed")
        available.append("send_test")
        return [
            (reverse("admin:wacampaigns_campaign_control", args=[campaign.pk, name]), self.CONTROLS[name])
            for name in available
        ]

    # --- progress on the change page ---------------------------------------------------------------

    def get_readonly_fields(self, request, obj=None):
        return [*super().get_readonly_fields(request, obj), "sending_progress"]

    def get_fieldsets(self, request, obj=None):
        fieldsets = list(super().get_fieldsets(request, obj))
        if obj is not None and obj.launched_at is not None:
            fieldsets.insert(0, ("Progress", {"fields": ["sending_progress"]}))
        return fieldsets

    @admin.display(description="Sending")
    def sending_progress(self, obj: Campaign):
        if obj.pk is None or obj.launched_at is None:
            return "Not launched yet."
        progress = campaign_progress(obj)
        counts = format_html_join(
            "",
            "<tr><td>{}</td><td style='text-align:right'>{}</td></tr>",
            ((status, progress.counts[status]) for status in STATUS_ORDER if progress.counts[status]),
        )
        reasons = format_html_join("", "<li>{}</li>", ((reason,) for reason in progress.waiting_reasons))
        return format_html(
            "<table><tbody>{}<tr><th>total</th><th style='text-align:right'>{}</th></tr></tbody></table>"
            "<p>Current rate: {} msg/s · remaining: {} · ETA: {}</p>{}",
            counts,
            progress.total,
            f"{progress.rate_per_second:.1f}",
            progress.open,
            _duration(progress.eta_seconds),
            format_html("<p>Waiting:</p><ul>{}</ul>", reasons) if progress.waiting_reasons else "",
        )

    # --- list actions ------------------------------------------------------------------------------

    def _each(self, request, queryset, control: str) -> None:
        if not request.user.has_perm(LAUNCH_PERMISSION):
            raise PermissionDenied
        for campaign in queryset.select_related("sender__business_account"):
            self._control(request, campaign, control)

    @admin.action(description="Launch (pre-flight check first)", permissions=["launch"])
    def launch_selected(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(
                request, "Launch one campaign at a time (its pre-flight page comes first).", messages.ERROR
            )
            return None
        return HttpResponseRedirect(reverse("admin:wacampaigns_campaign_launch", args=[queryset.get().pk]))

    @admin.action(description="Pause", permissions=["launch"])
    def pause_selected(self, request, queryset):
        self._each(request, queryset, "pause")

    @admin.action(description="Resume", permissions=["launch"])
    def resume_selected(self, request, queryset):
        self._each(request, queryset, "resume")

    @admin.action(description="Cancel (remaining messages are not sent)", permissions=["launch"])
    def cancel_selected(self, request, queryset):
        self._each(request, queryset, "cancel")

    @admin.action(description="Retry failed messages (retryable errors only)", permissions=["launch"])
    def retry_failed_selected(self, request, queryset):
        self._each(request, queryset, "retry_failed")

    @admin.action(description="Send a test to the staff numbers", permissions=["launch"])
    def send_test_selected(self, request, queryset):
        self._each(request, queryset, "send_test")

    def has_launch_permission(self, request):
        return request.user.has_perm(LAUNCH_PERMISSION)
