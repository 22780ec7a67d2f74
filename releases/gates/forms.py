"""Forms of the gates area: the gate panel's signing (with the password re-entered) and waiving, and
the policy pages' requirement form. They check input and say what is wrong; the gate services do the
writes."""

from django import forms
from django.contrib.auth.models import Group

from releases.gates.services.evidence import DEFAULT_BUILD_RESULT, DEFAULT_MAX_FAILED, DEFAULT_MIN_PASS_RATE
from releases.models import Build, GateKind, GatePolicy, GateRequirement, SignOff

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

    def __init__(self, *args, gate_id: int, with_password: bool = True, **kwargs):
        # Several gates share the release page: unique ids, the same field names.
        super().__init__(*args, auto_id=f"gate-{gate_id}-%s", **kwargs)
        if not with_password:  # they sign in again at the identity provider instead (releases.reauth)
            del self.fields["password"]

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


# The criteria the form edits, and the gate kinds whose evidence reads each of them.
CRITERIA_KINDS = {
    "min_pass_rate": GateKind.QA,
    "max_failed": GateKind.QA,
    "max_open_blockers": GateKind.SCOPE,
    "result": GateKind.BUILD,
}


REASON_HELP = "Required when the change weakens the policy: the person who approves it reads it."


def reason_field() -> forms.CharField:
    return forms.CharField(
        label="Why",
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=REASON_HELP,
    )


class PolicyChangeReasonForm(forms.Form):
    """Removing a requirement: only the reason (a removal always waits for a second person)."""

    reason = reason_field()


class GateRequirementForm(forms.Form):
    kind = forms.ChoiceField(choices=GateKind.choices)
    name = forms.CharField(max_length=100)
    signer_group = forms.TypedChoiceField(label="Signed by", required=False, coerce=int, empty_value=None)
    approvals_required = forms.IntegerField(
        label="Approvals",
        min_value=0,
        max_value=9,
        initial=1,
        help_text="0 for a gate decided by evidence alone.",
    )
    due_days_before_target = forms.IntegerField(
        label="Due (days before target)", min_value=0, max_value=365, initial=2
    )
    min_pass_rate = forms.DecimalField(
        label="Minimum pass rate (%)",
        required=False,
        min_value=0,
        max_value=100,
        decimal_places=1,
        help_text=f"QA gates; {DEFAULT_MIN_PASS_RATE:.0%} when empty.",
    )
    max_failed = forms.IntegerField(
        label="Failed tests allowed",
        required=False,
        min_value=0,
        help_text=f"QA gates; {DEFAULT_MAX_FAILED} when empty.",
    )
    max_open_blockers = forms.IntegerField(
        label="Open work items allowed", required=False, min_value=0, help_text="Scope gates; 0 when empty."
    )
    result = forms.ChoiceField(
        label="Build result needed",
        required=False,
        choices=[("", "—"), *[c for c in Build.Result.choices if c[0] != Build.Result.RUNNING]],
        help_text=f"Build gates; {DEFAULT_BUILD_RESULT} when empty.",
    )
    reason = reason_field()

    def __init__(
        self,
        *args,
        policy: GatePolicy | None,
        groups: list[Group],
        requirement: GateRequirement | None = None,
        **kwargs,
    ):
        """`groups`: the groups that may sign, read once for all the forms of a page."""
        self.policy, self.requirement = policy, requirement
        self.groups = {group.pk: group for group in groups}
        kwargs.setdefault("prefix", f"requirement-{requirement.pk}" if requirement else "requirement")
        if requirement is not None and "initial" not in kwargs:
            kwargs["initial"] = initial_of(requirement)
        elif requirement is None and not kwargs.get("initial"):
            kwargs["initial"] = new_requirement_initial(groups)
        super().__init__(*args, **kwargs)
        choices = [("", "Nobody: by evidence"), *((g.pk, g.name) for g in groups)]
        self.fields["signer_group"].choices = choices

    def main_fields(self) -> list:
        return [self[name] for name in self.fields if name not in CRITERIA_KINDS and name != "reason"]

    def criteria_fields(self) -> list:
        return [self[name] for name in CRITERIA_KINDS]

    def clean_signer_group(self) -> Group | None:
        pk = self.cleaned_data["signer_group"]
        return self.groups[pk] if pk is not None else None

    def clean(self):
        data = super().clean()
        approvals, group = data.get("approvals_required"), data.get("signer_group")
        if approvals and group is None:
            self.add_error("signer_group", "A gate that people sign needs the group whose members sign it.")
        if approvals == 0 and group is not None:
            self.add_error(
                "signer_group", "A gate decided by evidence alone has no signers: choose “Nobody”."
            )
        kind, name = data.get("kind"), data.get("name")
        if kind and name and self._taken(kind, name):
            self.add_error("name", f"This policy already has a {GateKind(kind).label} gate named “{name}”.")
        for criterion, wanted_kind in CRITERIA_KINDS.items():
            if data.get(criterion) not in (None, "") and kind and kind != wanted_kind:
                self.add_error(criterion, f"Only {GateKind(wanted_kind).label} gates read this.")
        return data

    def _taken(self, kind: str, name: str) -> bool:
        if self.policy is None:
            return False
        others = self.policy.requirements.filter(kind=kind, name=name)
        return others.exclude(pk=self.requirement.pk).exists() if self.requirement else others.exists()

    def values(self) -> dict:
        """The keyword arguments of gate_requirement_save. Criteria the form does not edit are kept."""
        data = self.cleaned_data
        criteria = {
            k: v
            for k, v in (self.requirement.criteria if self.requirement else {}).items()
            if k not in CRITERIA_KINDS
        }
        if data["min_pass_rate"] is not None:
            criteria["min_pass_rate"] = round(float(data["min_pass_rate"]) / 100, 4)
        for name in ("max_failed", "max_open_blockers", "result"):
            if data[name] not in (None, ""):
                criteria[name] = data[name]
        return {
            "kind": data["kind"],
            "name": data["name"],
            "signer_group": data["signer_group"],
            "approvals_required": data["approvals_required"],
            "due_days_before_target": data["due_days_before_target"],
            "criteria": criteria,
        }


NEW_KIND = GateKind.SECURITY


def new_requirement_initial(groups: list[Group]) -> dict:
    """ "Add a requirement" opens valid as it stands: a security gate signed once by the group named for
    it ("Security reviewer"), else by the first group; with no group at all, decided by evidence."""
    label = GateKind(NEW_KIND).label.lower()
    group = next((g for g in groups if g.name.lower().startswith(label)), groups[0] if groups else None)
    return {
        "kind": NEW_KIND,
        "signer_group": group.pk if group else None,
        "approvals_required": 1 if group else 0,
    }


def initial_of(requirement: GateRequirement) -> dict:
    criteria = requirement.criteria or {}
    rate = criteria.get("min_pass_rate")
    return {
        "kind": requirement.kind,
        "name": requirement.name,
        "signer_group": requirement.signer_group_id,
        "approvals_required": requirement.approvals_required,
        "due_days_before_target": requirement.due_days_before_target,
        "min_pass_rate": round(rate * 100, 1) if rate is not None else None,
        **{name: criteria.get(name) for name in ("max_failed", "max_open_blockers", "result")},
    }
