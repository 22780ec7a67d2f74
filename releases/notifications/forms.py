"""The profile's notification preferences: one choice per kind of notice."""

from django import forms

from releases.models import Delivery, NotificationKind


class NotificationPreferencesForm(forms.Form):
    """A field per kind (named by the kind); checks the values, writes nothing."""

    def __init__(self, *args, initial_choices: dict[str, str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        for kind, label in NotificationKind.choices:
            self.fields[kind] = forms.ChoiceField(
                label=label,
                choices=Delivery.choices,
                initial=(initial_choices or {}).get(kind, Delivery.IMMEDIATE),
            )
