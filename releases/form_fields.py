"""Form fields more than one area's forms use, so a choice reads the same on every page."""

from django import forms


class ApplicationChoiceField(forms.ModelChoiceField):
    """An application as "KEY · Name": the key first, as the choices are sorted by it."""

    def label_from_instance(self, application) -> str:
        return f"{application.key} · {application.name}"
