"""Forms of the release pages. They check input and say what is wrong; the services do the writes."""

from django import forms
from django.core.exceptions import ValidationError

from releases.form_fields import ApplicationChoiceField
from releases.models import Application, Portfolio, Release, ReleaseDependency, ReleaseTrain
from releases.planning.forecast import EARLIEST_PLAN_DAY, LATEST_PLAN_DAY
from releases.planning.selectors.what_if import MAX_SLIP_DAYS
from releases.planning.services import bulk


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, **kwargs):
        super().__init__(format="%Y-%m-%d", **kwargs)


class PlanDateField(forms.DateField):
    """A day a release is planned for: a plausible one (the forecast and its odds count days from
    today, and a year 1 or 9999 overflows them)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("widget", DateInput())
        super().__init__(**kwargs)

    def validate(self, value):
        super().validate(value)
        if value and not EARLIEST_PLAN_DAY <= value <= LATEST_PLAN_DAY:
            raise ValidationError(
                f"Pick a day between {EARLIEST_PLAN_DAY:%Y} and {LATEST_PLAN_DAY:%Y}.", code="out_of_range"
            )


class ReleasePlanForm(forms.Form):
    """Target date, code freeze, status and actual ship date of one release."""

    status = forms.ChoiceField(choices=Release.Status.choices)
    target_date = PlanDateField(label="Target date")
    code_freeze_date = PlanDateField(
        label="Code freeze", required=False, help_text="On or before the target date."
    )
    actual_date = PlanDateField(
        label="Shipped on",
        required=False,
        help_text="Only for a released release, and required for one.",
    )

    @classmethod
    def for_release(cls, release: Release, data=None) -> "ReleasePlanForm":
        initial = {name: getattr(release, name) for name in cls.base_fields}
        return cls(data, initial=initial, prefix="plan")

    def clean(self):
        data = super().clean()
        status, target = data.get("status"), data.get("target_date")
        freeze, actual = data.get("code_freeze_date"), data.get("actual_date")
        if freeze and target and freeze > target:
            self.add_error("code_freeze_date", "The code freeze must be on or before the target date.")
        if status == Release.Status.RELEASED and not actual:
            self.add_error("actual_date", "A released release needs the day it shipped.")
        if status and status != Release.Status.RELEASED and actual:
            self.add_error(
                "actual_date",
                "Only a released release has a ship date: clear it, or set the status to released.",
            )
        return data


class DependencyAddForm(forms.Form):
    """The upstream release is typed as "KEY version" (e.g. "PAY 4.2") and looked up on the server."""

    upstream = forms.CharField(
        label="Depends on",
        max_length=120,
        widget=forms.TextInput(attrs={"placeholder": "KEY version, e.g. PAY 4.2", "autocomplete": "off"}),
    )
    kind = forms.ChoiceField(
        choices=ReleaseDependency.Kind.choices, initial=ReleaseDependency.Kind.SHIPS_BEFORE
    )
    note = forms.CharField(label="Note", max_length=300, required=False)

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("prefix", "dependency")
        super().__init__(*args, **kwargs)

    def clean_upstream(self) -> Release:
        text = self.cleaned_data["upstream"].strip()
        key, _, version = text.partition(" ")
        if not version.strip():
            raise ValidationError("Type the application key and the version, e.g. PAY 4.2.")
        release = (
            Release.objects.select_related("application")
            .filter(application__key__iexact=key, version=version.strip())
            .first()
        )
        if release is None:
            raise ValidationError(f"No release “{text}”: check the application key and the version.")
        return release


class WhatIfForm(forms.Form):
    """A slip of N days, or a new target date (the plan form's, previewed before it is saved)."""

    days = forms.IntegerField(label="Slips by (days)", required=False, min_value=1, max_value=MAX_SLIP_DAYS)
    target_date = PlanDateField(label="New target", required=False)

    @classmethod
    def from_query(cls, query) -> "WhatIfForm":
        """The plan form names its target `plan-target_date`: its preview button sends that."""
        data = {"days": query.get("days", ""), "target_date": query.get("target_date", "")}
        if not data["target_date"] and query.get("plan-target_date"):
            data["target_date"] = query["plan-target_date"]
        return cls(data)

    def clean(self):
        data = super().clean()
        if not self.errors and bool(data.get("days")) == bool(data.get("target_date")):
            raise ValidationError("Give either the days it slips or a new target date.")
        return data


class TrainFilterForm(forms.Form):
    portfolio = forms.ModelChoiceField(
        queryset=Portfolio.objects.order_by("name"), required=False, empty_label="All portfolios"
    )
    when = forms.ChoiceField(
        choices=[("", "Current and coming"), ("past", "Over")], required=False, label="When"
    )


class ReleaseCreateForm(forms.Form):
    """A new release, planned in the portal; a release later found in Jira under the same application
    and version is adopted by the sync, not duplicated."""

    application = ApplicationChoiceField(
        queryset=Application.objects.order_by("key"), empty_label="Choose an application"
    )
    version = forms.CharField(max_length=64)
    summary = forms.CharField(max_length=300, required=False)
    target_date = PlanDateField(label="Target date")
    code_freeze_date = PlanDateField(
        label="Code freeze", required=False, help_text="On or before the target date."
    )
    train = forms.ModelChoiceField(
        queryset=ReleaseTrain.objects.select_related("portfolio").order_by("-starts_on", "name"),
        required=False,
        empty_label="No train",
    )


class ReleaseCloneForm(forms.Form):
    """The version and target of a copy; the rest comes from the release cloned."""

    version = forms.CharField(max_length=64)
    target_date = PlanDateField(label="Target date")


class ReleaseIdsField(forms.ModelMultipleChoiceField):
    """Releases by id. An id past what the database holds is refused as unknown before the query
    (Django's IN lookup hands it to the driver, which overflows)."""

    LARGEST_ID = 2**63 - 1

    def _check_values(self, value):
        for pk in value:
            text = str(pk)
            if not text.isascii() or not text.isdigit() or int(text) > self.LARGEST_ID:
                raise ValidationError(
                    self.error_messages["invalid_pk_value"], code="invalid_pk_value", params={"pk": pk}
                )
        return super()._check_values(value)


class BulkChangeForm(forms.Form):
    """One change to the releases ticked on the list (see releases.planning.services.bulk). Without
    `confirm` it asks for the preview; with it, for the change itself."""

    ACTIONS = [("move", "Move dates by"), ("status", "Set status to"), ("train", "Put on train")]

    release = ReleaseIdsField(
        queryset=Release.objects.select_related("application", "train").order_by("target_date", "pk"),
        error_messages={"required": "Tick the releases to change first."},
    )
    action = forms.ChoiceField(choices=ACTIONS, initial="move")
    days = forms.IntegerField(
        label="Days", required=False, min_value=-bulk.MAX_MOVE_DAYS, max_value=bulk.MAX_MOVE_DAYS
    )
    status = forms.ChoiceField(choices=[("", "Choose a status"), *bulk.BULK_STATUSES], required=False)
    train = forms.ModelChoiceField(
        queryset=ReleaseTrain.objects.order_by("-starts_on", "name"),
        required=False,
        empty_label="No train (take them off)",
    )
    override_reason = forms.CharField(
        label="Why they may ship inside the freeze", max_length=500, required=False, widget=forms.Textarea
    )
    confirm = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def clean_release(self):
        releases = self.cleaned_data["release"]
        if len(releases) > bulk.MAX_RELEASES:
            raise ValidationError(f"Change at most {bulk.MAX_RELEASES} releases at once.")
        return releases

    def clean(self):
        data = super().clean()
        action = data.get("action")
        if action == "move" and not data.get("days") and "days" not in self.errors:
            self.add_error("days", "Say by how many days to move them (a negative number is earlier).")
        if action == "status" and not data.get("status"):
            self.add_error("status", "Choose the status to set.")
        return data

    def change(self) -> "bulk.BulkChange":
        data = self.cleaned_data
        return bulk.BulkChange(
            data["action"], days=data.get("days") or 0, status=data.get("status", ""), train=data.get("train")
        )


class ReleaseImportForm(forms.Form):
    """The spreadsheet to import; releases.planning.imports reads it (and refuses what it cannot read)."""

    file = forms.FileField(
        label="Spreadsheet",
        max_length=200,
        help_text="A .csv (UTF-8) or .xlsx file, at most 2 MB and 500 rows: the template's columns.",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.xlsx"}),
    )
