"""Forms of the gate panel: signing (with the password re-entered) and waiving."""

from django import forms

from releases.models import SignOff

STATE_HASH = r"^[0-9a-f]{64}$"


class GateSignForm(forms.Form):
    """The decision comes from the button pressed (Approve or Reject)."""

    decision = forms.ChoiceField(
        choices=SignOff.Decision.choices, error_messages={"required": "Approve or reject."}
    )
    agree = forms.BooleanField(
        label="I agree to the meaning of my signature, as written above.",
        error_messages={"required": "Tick “I agree” to sign: a signature needs the words it stands for."},
    )
    comment = forms.CharField(
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Required to reject.",
    )
    password = forms.CharField(
        label="Your password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        help_text="Re-entered at the moment of signing.",
    )
    state_hash = forms.RegexField(regex=STATE_HASH, widget=forms.HiddenInput)

    def __init__(self, *args, gate_id: int, **kwargs):
        # Several gates share the release page: unique ids, the same field names.
        super().__init__(*args, auto_id=f"gate-{gate_id}-%s", **kwargs)

    def clean(self):
        data = super().clean()
        if data.get("decision") == SignOff.Decision.REJECT and not data.get("comment", "").strip():
            self.add_error("comment", "Say why you reject the gate.")
        return data


class GateWaiveForm(forms.Form):
    reason = forms.CharField(
        label="Reason for the waiver",
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Kept with the gate and shown as a waiver forever.",
    )

    def __init__(self, *args, gate_id: int, **kwargs):
        super().__init__(*args, auto_id=f"gate-{gate_id}-waive-%s", **kwargs)
