"""Forms of the portfolio structure: portfolios and applications (admins), and release trains
(release managers, in the portfolios they own). They check input; the services do the writes."""

from django import forms
from django.core.exceptions import ValidationError

from releases.models import Application, Portfolio, ReleaseTrain
from releases.planning.forms import DateInput, PlanDateField


class PortfolioForm(forms.ModelForm):
    class Meta:
        model = Portfolio
        fields = ["name", "slug", "parent"]
        help_texts = {"slug": "Letters, digits and dashes: how links and feeds name it."}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["parent"].empty_label = "None: a portfolio of its own"
        self.fields["parent"].label = "Inside"


class ApplicationForm(forms.ModelForm):
    class Meta:
        model = Application
        fields = ["portfolio", "key", "name", "criticality", "release_cadence", "description"]
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["portfolio"].empty_label = "Choose a portfolio"

    def clean_key(self) -> str:
        key = self.cleaned_data["key"].strip().upper()
        if not key.replace("-", "").replace("_", "").isalnum() or not key.isascii():
            raise ValidationError("Use letters, digits, dashes and underscores, e.g. PAY.")
        return key


class TrainForm(forms.ModelForm):
    """A train's window is [starts on, ends on): the form asks for its last day, as people say it."""

    last_day = PlanDateField(label="Last day")

    class Meta:
        model = ReleaseTrain
        fields = ["portfolio", "name", "starts_on"]
        labels = {"starts_on": "First day"}
        widgets = {"starts_on": DateInput()}

    def __init__(self, *args, portfolios, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["portfolio"].queryset = portfolios
        self.fields["portfolio"].empty_label = "Choose a portfolio"
        self.fields["starts_on"] = PlanDateField(label="First day")
        if self.instance.pk:
            self.initial["last_day"] = self.instance.ends_on - ReleaseTrain.ONE_DAY
        self.order_fields(["portfolio", "name", "starts_on", "last_day"])

    def clean(self):
        data = super().clean()
        first, last = data.get("starts_on"), data.get("last_day")
        if first and last and last < first:
            self.add_error("last_day", "The last day is on or after the first day.")
        elif last:
            self.instance.ends_on = last + ReleaseTrain.ONE_DAY
        return data
