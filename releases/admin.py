"""Django admin. Every write through it is audited in the admin's own transaction; relations use
autocomplete or raw ids so no form loads a whole table; big tables skip the full COUNT."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import transaction

from releases import tasks
from releases.models import (
    Application,
    AuditEvent,
    Booking,
    Build,
    Deployment,
    Environment,
    EnvironmentComponent,
    FreezeWindow,
    Gate,
    GatePolicy,
    GateRequirement,
    Portfolio,
    PullRequest,
    Release,
    ReleaseDependency,
    ReleaseTrain,
    SignOff,
    TestRun,
    WorkItem,
)
from releases.services import bookings
from releases.services.audit import audit_record, snapshot
from releases.services.evidence import criteria_problems
from releases.services.gates import (
    REQUIREMENT_FIELDS,
    gate_policy_create,
    gate_requirement_delete,
    gate_requirement_save,
)


class AuditedAdmin(admin.ModelAdmin):
    show_full_result_count = False

    def save_model(self, request, obj, form, change):
        before = snapshot(type(obj).objects.get(pk=obj.pk)) if change else None
        super().save_model(request, obj, form, change)
        verb = "update" if change else "create"
        audit_record(actor=request.user, action=f"{obj._meta.model_name}.{verb}", obj=obj, before=before)

    def delete_model(self, request, obj):
        self._delete_audited(request, [obj])

    def delete_queryset(self, request, queryset):
        self._delete_audited(request, list(queryset))

    @transaction.atomic
    def _delete_audited(self, request, objects):
        for obj in objects:
            before, pk, label, text = snapshot(obj), obj.pk, obj._meta.label_lower, str(obj)
            obj.delete()
            audit_record(
                actor=request.user,
                action=f"{obj._meta.model_name}.delete",
                object_type=label,
                object_id=str(pk),
                before=before | {"repr": text},
            )


class ReadOnlyAdmin(admin.ModelAdmin):
    """For append-only records: visible, never edited here."""

    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Portfolio)
class PortfolioAdmin(AuditedAdmin):
    list_display = ["name", "slug", "parent"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    autocomplete_fields = ["parent"]
    filter_horizontal = ["owners"]


@admin.register(Application)
class ApplicationAdmin(AuditedAdmin):
    list_display = ["name", "key", "portfolio", "criticality", "release_cadence"]
    list_filter = ["criticality", "release_cadence", "portfolio"]
    list_select_related = ["portfolio"]
    search_fields = ["name", "key"]
    autocomplete_fields = ["portfolio"]


@admin.register(ReleaseTrain)
class ReleaseTrainAdmin(AuditedAdmin):
    list_display = ["name", "portfolio", "starts_on", "ends_on"]
    list_filter = ["portfolio"]
    list_select_related = ["portfolio"]
    search_fields = ["name"]
    autocomplete_fields = ["portfolio"]
    date_hierarchy = "starts_on"


class UpstreamInline(admin.TabularInline):
    model = ReleaseDependency
    fk_name = "downstream"
    raw_id_fields = ["upstream"]
    extra = 0
    verbose_name = "depends on"


@admin.register(Release)
class ReleaseAdmin(AuditedAdmin):
    list_display = ["__str__", "application", "status", "target_date", "actual_date", "train", "owner"]
    list_filter = ["status", "application__portfolio", "application__criticality"]
    list_select_related = ["application", "train", "owner"]
    search_fields = ["version", "application__key", "application__name", "summary"]
    autocomplete_fields = ["application", "train", "owner"]
    raw_id_fields = ["freeze_override_by"]
    date_hierarchy = "target_date"
    inlines = [UpstreamInline]


@admin.register(ReleaseDependency)
class ReleaseDependencyAdmin(AuditedAdmin):
    list_display = ["downstream", "upstream", "kind"]
    list_filter = ["kind"]
    list_select_related = ["downstream__application", "upstream__application"]
    raw_id_fields = ["downstream", "upstream"]


class RequirementForm(forms.ModelForm):
    def clean_criteria(self):
        criteria = self.cleaned_data["criteria"]
        if problems := criteria_problems(criteria):
            raise forms.ValidationError(problems)
        return criteria


class RequirementInline(admin.TabularInline):
    model = GateRequirement
    form = RequirementForm
    extra = 0
    autocomplete_fields = ["signer_group"]


@admin.register(GatePolicy)
class GatePolicyAdmin(AuditedAdmin):
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
            return super().save_model(request, obj, form, change)  # its name: audited, nothing follows
        obj.pk = gate_policy_create(portfolio=obj.portfolio, by=request.user, name=obj.name).pk
        obj._state.adding = False

    def save_formset(self, request, form, formset, change):
        changed = formset.save(commit=False)
        for requirement in formset.deleted_objects:
            gate_requirement_delete(requirement=requirement, by=request.user)
        for requirement in changed:
            gate_requirement_save(
                policy=form.instance,
                by=request.user,
                requirement=requirement if requirement.pk else None,
                **{name: getattr(requirement, name) for name in REQUIREMENT_FIELDS},
            )


@admin.register(Gate)
class GateAdmin(AuditedAdmin):
    list_display = ["name", "release", "kind", "status", "due_date", "evidence_pass_rate"]
    list_filter = ["status", "kind"]
    list_select_related = ["release__application"]
    search_fields = ["release__version", "release__application__key", "name"]
    raw_id_fields = ["release", "requirement", "waived_by"]
    autocomplete_fields = ["signer_group"]
    date_hierarchy = "due_date"


class EvidenceFactAdmin(AuditedAdmin):
    """Test runs, builds and work items are gate evidence: the gates of the releases they belonged to
    and belong to now are recomputed after the commit."""

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        ids = _evidence_release_ids(form)
        if ids:
            transaction.on_commit(lambda: tasks.gate_evidence_refresh_task.delay(release_ids=ids))


def _evidence_release_ids(form) -> list[int]:
    obj = form.instance
    if isinstance(obj, WorkItem):
        before = {release.pk for release in form.initial.get("fix_releases", [])}
        return sorted(before | set(obj.fix_releases.values_list("pk", flat=True)))
    return sorted({pk for pk in (form.initial.get("release"), obj.release_id) if pk})


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
class EnvironmentAdmin(AuditedAdmin):
    list_display = ["name", "kind", "capacity", "bookable", "owner_group"]
    list_filter = ["kind", "bookable"]
    search_fields = ["name"]
    autocomplete_fields = ["owner_group"]
    inlines = [ComponentInline]


@admin.register(Booking)
class BookingAdmin(ReadOnlyAdmin):
    """Bookings change only through releases.services.bookings (its lock and capacity check): here
    they are read, and approved or cancelled by the actions, which call the services."""

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
class FreezeWindowAdmin(AuditedAdmin):
    list_display = ["reason", "scope", "portfolio", "environment", "starts_at", "ends_at", "rrule"]
    list_filter = ["scope"]
    list_select_related = ["portfolio", "environment"]
    autocomplete_fields = ["portfolio", "environment"]


@admin.register(Deployment)
class DeploymentAdmin(AuditedAdmin):
    list_display = ["application", "version", "environment", "status", "deployed_at", "source"]
    list_filter = ["status", "environment__kind"]
    list_select_related = ["application", "environment"]
    search_fields = ["version", "application__key", "environment__name"]
    autocomplete_fields = ["application", "environment"]
    raw_id_fields = ["release"]
    date_hierarchy = "deployed_at"


@admin.register(WorkItem)
class WorkItemAdmin(EvidenceFactAdmin):
    list_display = ["key", "title", "type", "status_category", "priority", "application"]
    list_filter = ["type", "status_category", "descoped"]
    list_select_related = ["application"]
    search_fields = ["key", "title"]
    autocomplete_fields = ["application"]
    raw_id_fields = ["fix_releases"]


@admin.register(Build)
class BuildAdmin(EvidenceFactAdmin):
    list_display = ["job", "number", "result", "started_at", "application", "release"]
    list_filter = ["result"]
    list_select_related = ["application", "release__application"]
    search_fields = ["job", "commit"]
    autocomplete_fields = ["application"]
    raw_id_fields = ["release"]


@admin.register(TestRun)
class TestRunAdmin(EvidenceFactAdmin):
    list_display = ["__str__", "release", "passed", "failed", "skipped", "errors", "executed_at"]
    list_select_related = ["release__application"]
    raw_id_fields = ["release", "build", "environment"]


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
