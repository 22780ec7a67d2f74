"""Forms of the booking pages. Times are typed in the user's time zone (the view activates it) and
come out as aware datetimes; the services check the rules and do the writes."""

from datetime import time

from django import forms

from releases.environments.working_hours import WEEKDAYS, day_set, weekdays_of
from releases.form_fields import ApplicationChoiceField
from releases.models import Application, Environment, Release


class DateTimeInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, **kwargs):
        super().__init__(format="%Y-%m-%dT%H:%M", **kwargs)


class BookingRequestForm(forms.Form):
    environment = forms.ModelChoiceField(queryset=Environment.objects.filter(bookable=True).order_by("name"))
    application = ApplicationChoiceField(queryset=Application.objects.order_by("key"))  # "KEY · Name"
    version = forms.CharField(
        required=False, max_length=64, help_text="Optional: the release of that application it is for."
    )
    starts_at = forms.DateTimeField(label="From", widget=DateTimeInput())
    ends_at = forms.DateTimeField(label="Until", widget=DateTimeInput(), help_text="The end is free again.")
    purpose = forms.CharField(max_length=300)
    freeze_override_reason = forms.CharField(
        label="Freeze override reason",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Environment admins only: why this booking may run inside a freeze.",
    )

    def __init__(self, *args, may_override: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if not may_override:
            del self.fields["freeze_override_reason"]
        self.fields["environment"].error_messages["invalid_choice"] = "No bookable environment with that id."

    def clean(self):
        data = super().clean()
        application, version = data.get("application"), data.get("version", "").strip()
        data["release"] = None
        if application and version:
            data["release"] = Release.objects.filter(application=application, version=version).first()
            if data["release"] is None:
                self.add_error("version", f"{application.key} has no release {version}.")
        starts_at, ends_at = data.get("starts_at"), data.get("ends_at")
        if starts_at and ends_at and ends_at <= starts_at:
            self.add_error("ends_at", "The end must be after the start.")
        return data

    def service_arguments(self) -> dict:
        data = self.cleaned_data
        return {
            "environment": data["environment"],
            "starts_at": data["starts_at"],
            "ends_at": data["ends_at"],
            "purpose": data["purpose"],
            "release": data["release"],
            "application": data["application"],
            "freeze_override_reason": data.get("freeze_override_reason", ""),
        }


class BookingRejectForm(forms.Form):
    reason = forms.CharField(max_length=1000, widget=forms.Textarea(attrs={"rows": 2}))


class BookingApproveForm(forms.Form):
    reason = forms.CharField(max_length=1000, required=False)


class BookingShortenForm(forms.Form):
    ends_at = forms.DateTimeField(label="New end", widget=DateTimeInput())


class WorkDaysField(forms.TypedMultipleChoiceField):
    """The working days as checkboxes, stored as a bit set (Environment.work_days)."""

    widget = forms.CheckboxSelectMultiple

    def __init__(self, **kwargs):
        kwargs.pop("max_value", None), kwargs.pop("min_value", None)
        super().__init__(choices=list(enumerate(WEEKDAYS)), coerce=int, **kwargs)
        self.error_messages["required"] = "Tick at least one working day."

    def prepare_value(self, value):
        return weekdays_of(value) if isinstance(value, int) else value

    def clean(self, value):
        return day_set(super().clean(value))

    def has_changed(self, initial, data):
        return super().has_changed(self.prepare_value(initial), data)


class EnvironmentForm(forms.ModelForm):
    """Where environments are edited (the admin): working days as checkboxes, hours checked."""

    work_days = WorkDaysField(label="Working days")

    class Meta:
        model = Environment
        fields = [
            "name",
            "kind",
            "capacity",
            "bookable",
            "owner_group",
            "description",
            "work_starts",
            "work_ends",
            "work_days",
            "work_time_zone",
        ]

    def clean(self):
        data = super().clean()
        starts, ends = data.get("work_starts"), data.get("work_ends")
        if starts is not None and ends is not None and ends != time(0) and ends <= starts:
            self.add_error("work_ends", "Working hours end after they start (00:00 means midnight).")
        return data
