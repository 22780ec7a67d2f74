from django import forms
from django.contrib import admin

from integrations.models import ApplicationMapping, Connection, SyncCursor, SyncRun
from releases.admin import ReadOnlyAdmin, RecordAdmin


class ConnectionForm(forms.ModelForm):
    """Credentials are write-only: the form never shows what is stored, and blank keeps it."""

    username = forms.CharField(required=False, help_text="User or e-mail (Jira, Jenkins).")
    token = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="API token. Leave blank to keep the stored one.",
    )
    webhook_secret = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="The secret the tool signs its webhooks with. Leave blank to keep the stored one.",
    )

    class Meta:
        model = Connection
        fields = ["name", "kind", "base_url", "scope", "schedule_minutes", "request_budget", "enabled"]

    def save(self, commit=True):
        connection = super().save(commit=False)
        if self.cleaned_data.get("token"):
            connection.credentials = {
                "username": self.cleaned_data.get("username", ""),
                "token": self.cleaned_data["token"],
            }
        if self.cleaned_data.get("webhook_secret"):
            connection.webhook_secret = self.cleaned_data["webhook_secret"]
        if commit:
            connection.save()
        return connection


class MappingInline(admin.TabularInline):
    model = ApplicationMapping
    autocomplete_fields = ["application"]
    extra = 0


@admin.register(Connection)
class ConnectionAdmin(RecordAdmin):
    """A connection and its mappings (which decide where a tool's facts land) are saved and audited
    by releases.records, each mapping on its own; runs and cursors are only read."""

    form = ConnectionForm
    list_display = ["name", "kind", "base_url", "enabled", "schedule_minutes"]
    list_filter = ["kind", "enabled"]
    search_fields = ["name", "base_url"]
    inlines = [MappingInline]


@admin.register(SyncRun)
class SyncRunAdmin(ReadOnlyAdmin):
    list_display = [
        "connection",
        "status",
        "started_at",
        "heartbeat_at",
        "finished_at",
        "items_fetched",
        "requests",
    ]
    list_filter = ["status", "connection"]
    list_select_related = ["connection"]


@admin.register(SyncCursor)
class SyncCursorAdmin(ReadOnlyAdmin):
    list_display = ["connection", "stream", "watermark", "etag", "updated_at"]
    list_select_related = ["connection"]
