"""Django admin. It writes only through the services the pages use, so the same rules hold and the
same audit events are written: releases, dependencies, bookings and gate policies through their own
services, reference data (portfolios, applications, trains, environments, freeze windows) through
releases.records. Gates, sign-offs, the audit trail and the facts synced from the teams'
tools are read here, never changed. Relations use autocomplete or raw ids so no form loads a whole
table; big tables skip the full COUNT."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpResponseRedirect

from releases.environments.forms import EnvironmentForm
from releases.environments.services import bookings
from releases.gates.services.policies import (
    gate_policy_create,
)
from releases.models import (
    Application,
    AuditEvent,
    Booking,
    Build,
    ChatWebhook,
    Deployment,
    Environment,
    EnvironmentComponent,
    FreezeWindow,
    Gate,
    GatePolicy,
    GateRequirement,
    PolicyChange,
    Portfolio,
    PullRequest,
    Release,
    ReleaseDependency,
    ReleaseTrain,
    ScopeChange,
    SignOff,
    TestRun,
    WorkItem,
)
from releases.planning.services.dependencies import DependencyRefused, dependency_add, dependency_remove
from releases.planning.services.portfolios import EDITABLE_FIELDS as PORTFOLIO_FIELDS
from releases.planning.services.portfolios import portfolio_create, portfolio_update
from releases.planning.services.releases import EDITABLE_FIELDS, release_create, release_update
from releases.records import record_delete, record_save

# What a service raises when it refuses a write; the admin shows it, never a 500.
REFUSALS = (ValidationError, DependencyRefused, bookings.BookingConflict, PermissionError)


def refusal_messages(refusal: Exception) -> list[str]:
    return refusal.messages if isinstance(refusal, ValidationError) else [str(refusal)]


def add_refusal(form: forms.BaseForm, refusal: Exception) -> None:
    """The refusal on the fields it names when the form has them, otherwise above the form."""
    if isinstance(refusal, ValidationError) and hasattr(refusal, "error_dict"):
        for field, errors in refusal.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, refusal_messages(refusal))


class ServiceAdmin(admin.ModelAdmin):
    """Saves and deletes through services (subclasses say which).

    The admin saves in one transaction; a refusal raised by a service while saving rolls all of it
    back, and the form is shown again, as it was posted, with the refusal on it. A refusal while
    deleting rolls the deletion back and becomes an error message."""

    show_full_result_count = False

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except REFUSALS as refusal:
            if request.method != "POST" or hasattr(request, "service_refusal"):
                raise
            request.service_refusal = refusal  # the second pass validates the form with it: nothing saved
            return super().changeform_view(request, object_id, form_url, extra_context)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        refusal = getattr(request, "service_refusal", None)
        if refusal is None:
            return form

        class Refused(form):
            def clean(self):
                data = super().clean()
                add_refusal(self, refusal)
                return data

        Refused.__name__ = form.__name__
        return Refused

    def delete_view(self, request, object_id, extra_context=None):
        try:
            return super().delete_view(request, object_id, extra_context)
        except REFUSALS as refusal:
            self.message_user(request, " ".join(refusal_messages(refusal)), messages.ERROR)
            return HttpResponseRedirect(request.path)

    def delete_queryset(self, request, queryset):
        try:
            with transaction.atomic():
                for obj in queryset:
                    self.delete_model(request, obj)
        except REFUSALS as refusal:
            self.message_user(request, " ".join(refusal_messages(refusal)), messages.ERROR)

    def save_formset(self, request, form, formset, change):
        """Inline rows through the services too: by default the record services."""
        changed = formset.save(commit=False)
        for obj in formset.deleted_objects:
            record_delete(obj=obj, by=request.user)
        for obj in changed:
            record_save(obj=obj, by=request.user)
        formset.save_m2m()


class RecordAdmin(ServiceAdmin):
    """Reference data: validated, saved and audited by releases.records."""

    def save_model(self, request, obj, form, change):
        record_save(obj=obj, by=request.user)

    def delete_model(self, request, obj):
        record_delete(obj=obj, by=request.user)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Visible, never edited here: append-only records, the gates, and the facts the tools own."""

    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Portfolio)
class PortfolioAdmin(RecordAdmin):
    list_display = ["name", "slug", "parent"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    autocomplete_fields = ["parent"]
    filter_horizontal = ["owners"]

    def save_model(self, request, obj, form, change):
        """Through the portfolio services: a new parent is refused if it makes a loop, and the moved
        portfolio's releases follow their new inherited policy and freezes."""
        if not change:
            obj.pk = portfolio_create(name=obj.name, slug=obj.slug, parent=obj.parent, by=request.user).pk
            return
        fields = {name: form.cleaned_data[name] for name in form.changed_data if name in PORTFOLIO_FIELDS}
        portfolio_update(portfolio=obj, by=request.user, **fields)


@admin.register(Application)
class ApplicationAdmin(RecordAdmin):
    list_display = ["name", "key", "portfolio", "criticality", "release_cadence"]
    list_filter = ["criticality", "release_cadence", "portfolio"]
    list_select_related = ["portfolio"]
    search_fields = ["name", "key"]
    autocomplete_fields = ["portfolio"]


@admin.register(ReleaseTrain)
class ReleaseTrainAdmin(RecordAdmin):
    list_display = ["name", "portfolio", "starts_on", "ends_on"]
    list_filter = ["portfolio"]
    list_select_related = ["portfolio"]
    search_fields = ["name"]
    autocomplete_fields = ["portfolio"]
    date_hierarchy = "starts_on"


class UpstreamInline(admin.TabularInline):
    """Dependencies are added and removed through the dependency services; a stored one is not
    changed in place (remove it and add the one you mean)."""

    model = ReleaseDependency
    fk_name = "downstream"
    raw_id_fields = ["upstream"]
    extra = 0
    verbose_name = "depends on"

    def has_change_permission(self, request, obj=None):
        return False


def dependencies_save(request, release: Release, formset) -> None:
    formset.save(commit=False)
    for dependency in formset.deleted_objects:
        dependency_remove(dependency=dependency, by=request.user)
    for dependency in formset.new_objects:
        dependency_add(
            downstream=release,
            upstream=dependency.upstream,
            kind=dependency.kind,
            note=dependency.note,
            by=request.user,
        )


@admin.register(Release)
class ReleaseAdmin(ServiceAdmin):
    """Added by release_create (with the gates its policy requires), changed by release_update (which
    refuses a target inside a freeze without an override). The freeze override is given on the
    release page; the facts a sync wrote are shown, not typed in."""

    list_display = ["__str__", "application", "status", "target_date", "actual_date", "train", "owner"]
    list_filter = ["status", "application__portfolio", "application__criticality"]
    list_select_related = ["application", "train", "owner"]
    search_fields = ["version", "application__key", "application__name", "summary"]
    autocomplete_fields = ["application", "train", "owner"]
    fields = [
        "application",
        "version",
        "summary",
        "status",
        "target_date",
        "code_freeze_date",
        "actual_date",
        "owner",
        "train",
        "freeze_override_by",
        "freeze_override_reason",
        "scope_changed_by",
        "scope_changed_at",
        "source",
        "external_id",
    ]
    date_hierarchy = "target_date"
    inlines = [UpstreamInline]

    def get_readonly_fields(self, request, obj=None):
        shown = ["freeze_override_by", "freeze_override_reason", "scope_changed_by", "scope_changed_at"]
        shown += ["source", "external_id"]
        return ["application", *shown] if obj else shown  # a release stays with its application

    def save_model(self, request, obj, form, change):
        values = {name: value for name, value in form.cleaned_data.items() if name in EDITABLE_FIELDS}
        if change:
            release_update(release=obj, by=request.user, **values)
            return
        release = release_create(
            application=form.cleaned_data["application"],
            version=values.pop("version"),
            target_date=values.pop("target_date"),
            by=request.user,
            **values,
        )
        obj.pk, obj._state.adding = release.pk, False

    def delete_model(self, request, obj):
        record_delete(obj=obj, by=request.user)

    def save_formset(self, request, form, formset, change):
        if formset.model is ReleaseDependency:
            return dependencies_save(request, form.instance, formset)
        return super().save_formset(request, form, formset, change)


@admin.register(ReleaseDependency)
class ReleaseDependencyAdmin(ServiceAdmin):
    """Added and removed by the dependency services (a cycle is refused, naming it); never changed
    in place."""

    list_display = ["downstream", "upstream", "kind"]
    list_filter = ["kind"]
    list_select_related = ["downstream__application", "upstream__application"]
    raw_id_fields = ["downstream", "upstream"]

    def has_change_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        dependency = dependency_add(
            downstream=obj.downstream, upstream=obj.upstream, kind=obj.kind, note=obj.note, by=request.user
        )
        obj.pk, obj._state.adding = dependency.pk, False

    def delete_model(self, request, obj):
        dependency_remove(dependency=obj, by=request.user)


class RequirementInline(admin.TabularInline):
    """Read only: requirements change on the policy page, where a change that weakens the policy
    waits for a second person's approval (releases.gates.services.policy_changes)."""

    model = GateRequirement
    extra = 0
    fields = ["kind", "name", "signer_group", "approvals_required", "criteria", "due_days_before_target"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(GatePolicy)
class GatePolicyAdmin(ServiceAdmin):
    """Policies and their requirements change through the gate services, so the open releases follow."""

    list_display = ["name", "portfolio"]
    list_select_related = ["portfolio"]
    autocomplete_fields = ["portfolio"]
    inlines = [RequirementInline]

    def get_readonly_fields(self, request, obj=None):
        return ["portfolio"] if obj else []  # the releases a policy reaches are fixed when it is made

    def has_delete_permission(self, request, obj=None):
        return False  # remove its requirements instead: the service decides what their gates become

    def save_model(self, request, obj, form, change):
        if change:
            record_save(obj=obj, by=request.user)  # only its name changes: audited, nothing follows
            return
        obj.pk = gate_policy_create(portfolio=obj.portfolio, by=request.user, name=obj.name).pk
        obj._state.adding = False


@admin.register(Gate)
class GateAdmin(ReadOnlyAdmin):
    """Gates are decided by sign-offs, waivers and evidence (releases.gates.services.signoffs, evidence),
    under segregation of duties, a quorum and a signature: never by a field typed in here."""

    list_display = ["name", "release", "kind", "status", "due_date", "evidence_pass_rate"]
    list_filter = ["status", "kind"]
    list_select_related = ["release__application"]
    search_fields = ["release__version", "release__application__key", "name"]
    date_hierarchy = "due_date"


@admin.register(PolicyChange)
class PolicyChangeAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "policy", "status", "proposed_by", "decided_by", "effective_at"]
    list_filter = ["status", "action", "needs_approval"]
    list_select_related = ["policy", "proposed_by", "decided_by"]


@admin.register(SignOff)
class SignOffAdmin(ReadOnlyAdmin):
    list_display = ["gate", "signer_name", "decision", "signed_at", "reauthenticated"]
    list_filter = ["decision", "reauthenticated"]
    list_select_related = ["gate"]
    search_fields = ["signer_name", "state_hash"]


class ComponentInline(admin.TabularInline):
    model = EnvironmentComponent
    fk_name = "composite"
    autocomplete_fields = ["component"]
    extra = 0


@admin.register(Environment)
class EnvironmentAdmin(RecordAdmin):
    form = EnvironmentForm
    list_display = ["name", "kind", "capacity", "bookable", "owner_group", "working_hours_label"]
    list_filter = ["kind", "bookable"]
    search_fields = ["name"]
    autocomplete_fields = ["owner_group"]
    inlines = [ComponentInline]


@admin.register(Booking)
class BookingAdmin(ReadOnlyAdmin):
    """Bookings change only through releases.environments.services.bookings (its lock and capacity check):
    here they are read, and approved or cancelled by the actions, which call the services."""

    list_display = ["environment", "starts_at", "ends_at", "status", "requester", "release", "application"]
    list_filter = ["status", "environment__kind"]
    list_select_related = ["environment", "requester", "release__application", "application"]
    search_fields = ["environment__name", "purpose"]
    date_hierarchy = "starts_at"
    actions = ["approve", "cancel"]

    def has_decide_permission(self, request) -> bool:
        return request.user.has_perm(bookings.DECIDE_PERMISSION)

    @admin.action(description="Approve the selected requests", permissions=["decide"])
    def approve(self, request, queryset):
        self._each(request, queryset.filter(part_of__isnull=True), bookings.booking_approve, "approved")

    @admin.action(description="Cancel the selected bookings", permissions=["decide"])
    def cancel(self, request, queryset):
        self._each(request, queryset.filter(part_of__isnull=True), bookings.booking_cancel, "cancelled")

    def _each(self, request, queryset, service, done: str) -> None:
        for booking in queryset.select_related("environment"):
            try:
                service(booking=booking, by=request.user)
                self.message_user(request, f"Booking #{booking.pk} {done}.", messages.SUCCESS)
            except (bookings.BookingConflict, ValidationError, PermissionError) as refusal:
                text = " ".join(refusal.messages) if isinstance(refusal, ValidationError) else str(refusal)
                self.message_user(request, f"Booking #{booking.pk}: {text}", messages.ERROR)


@admin.register(FreezeWindow)
class FreezeWindowAdmin(RecordAdmin):
    """Saved by releases.records, which refreshes the forecasts after the commit."""

    list_display = ["reason", "scope", "portfolio", "environment", "starts_at", "ends_at", "rrule"]
    list_filter = ["scope"]
    list_select_related = ["portfolio", "environment"]
    autocomplete_fields = ["portfolio", "environment"]


@admin.register(Deployment)
class DeploymentAdmin(ReadOnlyAdmin):
    """Recorded by the syncs of the teams' tools: the tool is the place to change a deployment."""

    list_display = ["application", "version", "environment", "status", "deployed_at", "source"]
    list_filter = ["status", "environment__kind"]
    list_select_related = ["application", "environment"]
    search_fields = ["version", "application__key", "environment__name"]
    date_hierarchy = "deployed_at"


@admin.register(WorkItem)
class WorkItemAdmin(ReadOnlyAdmin):
    """Synced from the tracker; a release's scope changes on its page (release_scope_change)."""

    list_display = ["key", "title", "type", "status_category", "priority", "application"]
    list_filter = ["type", "status_category", "descoped"]
    list_select_related = ["application"]
    search_fields = ["key", "title"]


@admin.register(ScopeChange)
class ScopeChangeAdmin(ReadOnlyAdmin):
    """The history of releases' scope: written by the syncs and release_scope_change, never by hand."""

    list_display = ["at", "kind", "work_item", "release", "recorded_at"]
    list_filter = ["kind"]
    list_select_related = ["work_item", "release__application"]
    search_fields = ["work_item__key", "release__version"]
    date_hierarchy = "at"


@admin.register(Build)
class BuildAdmin(ReadOnlyAdmin):
    """Synced from the CI server: the tool is the place to change a build."""

    list_display = ["job", "number", "result", "started_at", "application", "release"]
    list_filter = ["result"]
    list_select_related = ["application", "release__application"]
    search_fields = ["job", "commit"]


@admin.register(TestRun)
class TestRunAdmin(ReadOnlyAdmin):
    """A test run is evidence: it comes from the tools (a pipeline's upload to /api/junit under a
    service account, or a sync), never typed in here, and is never changed or deleted."""

    list_display = [
        "__str__",
        "release",
        "passed",
        "failed",
        "skipped",
        "errors",
        "executed_at",
        "supplied_by",
    ]
    list_select_related = ["release__application", "supplied_by"]


@admin.register(PullRequest)
class PullRequestAdmin(ReadOnlyAdmin):
    """Synced from GitHub: the tool is the place to change a pull request."""

    list_display = ["__str__", "title", "state", "author", "updated_at", "application", "release"]
    list_filter = ["state"]
    list_select_related = ["application", "release__application"]
    search_fields = ["repository", "title", "author"]
    date_hierarchy = "updated_at"


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["seq", "created_at", "actor_label", "action", "object_type", "object_id", "object_repr"]
    list_filter = ["action", "object_type"]
    search_fields = ["object_id", "actor_label", "hash"]


@admin.register(ChatWebhook)
class ChatWebhookAdmin(RecordAdmin):
    """Chat channels that hear of slips and gate decisions (validated and audited as reference data;
    the signing key lives in the settings, never here)."""

    list_display = ["name", "style", "url", "kinds", "is_active"]
