"""Admin building blocks shared by the apps: bounded counts, read-only pages, write-only secrets."""

from django import forms
from django.contrib import admin
from django.core.paginator import Paginator
from django.utils.functional import cached_property


class CappedCountPaginator(Paginator):
    """Counts at most `cap` + 1 rows, so a list page over a million rows never COUNTs them all.

    Beyond the cap the page shows "10001" results; filters and search narrow the list.
    """

    cap = 10_000

    @cached_property
    def count(self):
        return self.object_list.order_by().values("pk")[: self.cap + 1].count()


class LargeTableAdmin(admin.ModelAdmin):
    """For tables that grow to millions of rows."""

    paginator = CappedCountPaginator
    show_full_result_count = False
    list_per_page = 50


class SystemWrittenAdmin(LargeTableAdmin):
    """Rows the system writes: staff look, never edit."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class WriteOnlySecretsForm(forms.ModelForm):
    """Secret fields are entered, never shown again; left blank on an edit they keep their value.

    Subclasses list them in `secret_fields`.
    """

    secret_fields: tuple[str, ...] = ()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        editing = self.instance.pk is not None
        for name in self.secret_fields:
            field = self.fields[name]
            field.widget = forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"})
            field.required = not editing
            if editing:
                field.help_text = "Saved. Leave blank to keep it, or type a new value to replace it."

    def clean(self):
        cleaned = super().clean()
        if self.instance.pk is not None:
            for name in self.secret_fields:
                if not cleaned.get(name):
                    cleaned[name] = getattr(self.instance, name)
        return cleaned
