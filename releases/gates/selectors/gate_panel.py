"""The reads of the gate panel (the release page and the reviewer queue show the same one) and of the
queue: a fixed number of queries whatever the number of gates or sign-offs."""

from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import Count, IntegerField, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce
from django.shortcuts import get_object_or_404
from django.utils import timezone

from releases import reauth
from releases.gates.forms import GateSignForm, GateWaiveForm
from releases.gates.services.signoffs import (
    WAIVABLE,
    WAIVE_PERMISSION,
    gate_state_hash,
    scope_counts,
    sign_blockers,
    signoff_meaning,
)
from releases.models import Gate, Release, SignOff
from releases.planning.filters import GateShow


@dataclass
class GatePanel:
    """One gate as a user sees it: its state and signatures, and what this user may do with it."""

    gate: Gate
    blockers: list[str]
    may_waive: bool
    today: object
    state_hash: str = ""
    sign_form: GateSignForm | None = None
    signs_with_provider: bool = False  # re-authenticates at the identity provider (releases.reauth)
    reauth_ready: bool = False  # ... and did so, for this gate, within the time allowed
    waive_form: GateWaiveForm | None = None
    refusal: list[str] = field(default_factory=list)  # why the last POST was refused
    done: str = ""  # what the last POST did
    expanded: bool = False  # the sign form open, as on the gate's own page; folded on the release page

    @property
    def may_sign(self) -> bool:
        return not self.blockers

    @property
    def signoffs(self) -> list[SignOff]:
        return list(self.gate.signoffs.all())

    @property
    def approvals(self) -> int:
        return sum(s.decision == SignOff.Decision.APPROVE for s in self.signoffs)

    @property
    def overdue(self) -> bool:
        return self.gate.status == Gate.Status.PENDING and self.gate.due_date < self.today

    @property
    def meaning_approve(self) -> str:
        return signoff_meaning(self.gate, SignOff.Decision.APPROVE)

    @property
    def provider_name(self) -> str:
        return settings.OIDC_PROVIDER_NAME

    @property
    def reauth_minutes(self) -> int:
        return settings.OIDC_REAUTH_SECONDS // 60

    @property
    def meaning_reject(self) -> str:
        return signoff_meaning(self.gate, SignOff.Decision.REJECT)


def gate_panels(gates: list[Gate], *, release: Release, user) -> list[GatePanel]:
    """Panels for gates of one release, their sign-offs prefetched (see gates_with_signoffs)."""
    today = timezone.localdate()
    may_waive = user.has_perm(WAIVE_PERMISSION)
    by_provider = reauth.signs_with_provider(user)
    scope = None
    panels = []
    for gate in gates:
        gate.release = release  # already read: no query per gate
        panel = GatePanel(gate, sign_blockers(gate=gate, user=user), may_waive, today)
        if panel.may_sign:
            scope = scope if scope is not None else scope_counts(release)
            panel.state_hash = gate_state_hash(gate, scope=scope)
            panel.sign_form = GateSignForm(
                gate_id=gate.pk, initial={"state_hash": panel.state_hash}, with_password=not by_provider
            )
            panel.signs_with_provider = by_provider
        if may_waive and gate.status in WAIVABLE:
            panel.waive_form = GateWaiveForm(gate_id=gate.pk)
        panels.append(panel)
    return panels


def gates_with_signoffs():
    return Gate.objects.select_related("signer_group", "waived_by").prefetch_related("signoffs")


def gate_panel(pk: int, user) -> GatePanel:
    """The panel of one gate, as stored now (404 for an unknown gate)."""
    gate = get_object_or_404(
        gates_with_signoffs().select_related("release__application__portfolio", "release__owner"), pk=pk
    )
    return gate_panels([gate], release=gate.release, user=user)[0]


# --- the reviewer queue ---------------------------------------------------------------------------


def gate_queue(user, show: str):
    """Gates to list for `show` (waiting for me, all pending, decided), soonest due first; a pending
    gate due before today is overdue, so due-date order already puts the overdue ones first."""
    gates = Gate.objects.select_related("release__application__portfolio", "signer_group").annotate(
        approvals=_approvals()
    )
    if show == GateShow.DECIDED:
        return gates.decided().order_by("-decided_at", "pk")
    pending = gates.filter(status=Gate.Status.PENDING).exclude(release__status__in=Release.CLOSED_STATUSES)
    if show == GateShow.PENDING:
        return pending.order_by("due_date", "pk")
    return pending.signable_by(user).order_by("due_date", "pk")


def _approvals():
    approvals = (
        SignOff.objects.filter(gate=OuterRef("pk"), decision=SignOff.Decision.APPROVE)
        .order_by()
        .values("gate")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(approvals, output_field=IntegerField()), Value(0))
