"""Signing and waiving gates, under segregation of duties.

A signature is the signer's password re-entered at that moment (or, for people who sign in through the
identity provider, a sign-in there just before: releases/reauth.py), the words they agreed to, and the
SHA-256 of the release and gate state they saw (the hidden `state_hash` of the form they opened).
Every refused attempt is recorded in the audit trail, in its own transaction, so it outlives the
rolled-back change it tried to make.
"""

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from releases import reauth
from releases.audit import audit_record, snapshot
from releases.errors import Conflict, Refused
from releases.models import Gate, Release, SignOff, WorkItem
from releases.querysets import SIGN_PERMISSION
from releases.tasks import forecast_refresh_after_commit, gate_decided_notify_task

WAIVE_PERMISSION = "releases.waive_gate"
WAIVABLE = Gate.UNSETTLED_STATUSES  # a pending or failed gate may be waived


class SignOffRefused(Refused):
    """The user may not do this. `conflict` is True when the gate moved on (decided, signed by them,
    changed since they opened it): the view answers 409 rather than 403."""

    def __init__(self, reasons: list[str], *, conflict: bool = False):
        super().__init__(" ".join(reasons), status=Conflict.status if conflict else Refused.status)
        self.reasons = reasons
        self.conflict = conflict


class BadPassword(Refused):
    def __init__(self):
        super().__init__("The password is not correct: nothing was signed.")


class StaleReauthentication(Refused):
    """A signer who signs in through the identity provider brought no fresh sign-in there (403; not a
    password guess, so django-axes does not count it)."""

    def __init__(self):
        super().__init__(
            f"Signing needs a fresh sign-in with {settings.OIDC_PROVIDER_NAME} (within "
            f"{settings.OIDC_REAUTH_SECONDS // 60} minutes, for this gate): nothing was signed. "
            "Sign in again, then approve or reject."
        )


@dataclass(frozen=True)
class _Blocker:
    words: str
    conflict: bool = False


# --- reads ----------------------------------------------------------------------------------------


def signoff_meaning(gate: Gate, decision: str) -> str:
    """The words a signature stands for, shown before signing and stored with it."""
    verb = "approve" if decision == SignOff.Decision.APPROVE else "reject"
    release = f"{gate.release.application.key} {gate.release.version}"
    return f"I have reviewed the evidence for {release} and {verb} the {gate.name} gate."


def scope_counts(release: Release) -> dict[str, int]:
    """Work items of the release by status category, descoped ones apart: one aggregate query."""
    items = WorkItem.objects.filter(fix_releases=release)
    counts = items.aggregate(
        todo=Count("id", filter=Q(status_category="todo", descoped=False)),
        in_progress=Count("id", filter=Q(status_category="in_progress", descoped=False)),
        done=Count("id", filter=Q(status_category="done", descoped=False)),
        descoped=Count("id", filter=Q(descoped=True)),
    )
    return dict(sorted(counts.items()))


def gate_state_hash(gate: Gate, *, scope: dict[str, int] | None = None) -> str:
    """SHA-256 of the canonical JSON of what a signer sees: the release (with its scope counts) and
    the gate (with its evidence and the sign-offs so far). `scope` may be given when one page hashes
    several gates of the same release."""
    release = gate.release
    state = {
        "release": {
            "id": release.pk,
            "application": release.application.key,
            "version": release.version,
            "status": release.status,
            "target_date": release.target_date.isoformat(),
            "scope": scope if scope is not None else scope_counts(release),
        },
        "gate": {
            "id": gate.pk,
            "kind": gate.kind,
            "name": gate.name,
            "status": gate.status,
            "evidence": {
                "pass_rate": gate.evidence_pass_rate,
                "failed_tests": gate.evidence_failed_tests,
                "open_blockers": gate.evidence_open_blockers,
                "build_result": gate.evidence_build_result,
                "source": gate.evidence_source,
                "at": gate.evidence_at.isoformat() if gate.evidence_at else None,
                "ok": gate.evidence_ok,
                "summary": gate.evidence_summary,
            },
            "signoffs": sorted(signoff.pk for signoff in gate.signoffs.all()),
        },
    }
    canonical = json.dumps(state, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def signer_group_ids(user) -> set[int]:
    """The user's group ids, read once per request (cached on the user like Django's permissions)."""
    if not hasattr(user, "_signer_group_ids"):
        user._signer_group_ids = set(user.groups.values_list("id", flat=True))
    return user._signer_group_ids


def sign_blockers(*, gate: Gate, user) -> list[str]:
    """Why `user` may not sign `gate`, in words; empty when they may. Reads gate.signoffs.all()
    (prefetch it for a list) and gate.release. The same rule as a query: Gate.objects.signable_by;
    the segregation of duties part: Release.barred_signer_ids."""
    return [blocker.words for blocker in _blockers(gate, user)]


def _blockers(gate: Gate, user) -> list[_Blocker]:
    release = gate.release
    if gate.status != Gate.Status.PENDING:
        return [_Blocker(f"This gate is already {gate.get_status_display().lower()}.", conflict=True)]
    if gate.signer_group_id is None:
        return [_Blocker("This gate is decided by its automatic evidence alone; nobody signs it.")]
    blockers = []
    if not user.has_perm(SIGN_PERMISSION):
        blockers.append(_Blocker("Your role does not sign gates: it lacks the sign-off permission."))
    elif gate.signer_group_id not in signer_group_ids(user):
        blockers.append(_Blocker(f"Only members of {gate.signer_group.name} sign this gate."))
    if release.owner_id == user.pk:
        blockers.append(
            _Blocker("You own this release: segregation of duties means its owner cannot sign its gates.")
        )
    if release.scope_changed_by_id == user.pk:
        blockers.append(
            _Blocker(
                "You last changed this release's scope: segregation of duties means "
                "you cannot sign its gates."
            )
        )
    if any(signoff.signer_id == user.pk for signoff in gate.signoffs.all()):
        blockers.append(
            _Blocker(
                "You have already signed this gate; another signature must come from someone else.",
                conflict=True,
            )
        )
    return blockers


# --- writes ---------------------------------------------------------------------------------------


def gate_sign_check(*, gate: Gate, by) -> None:
    """Refuse, audited, when `by` may not sign `gate`: called before any input is read, so a refusal
    outranks a badly filled form."""
    _refuse_audited(gate=gate, by=by, action="sign", blockers=_blockers(gate, by))


def gate_sign(
    *,
    gate: Gate,
    by,
    decision: str,
    meaning: str,
    comment: str,
    password: str | None = None,
    reauthenticated_at: datetime | None = None,
    state_hash: str,
) -> SignOff:
    """Sign `gate` for `by`, who re-entered `password`, or, when they sign in through the identity
    provider (releases.reauth.signs_with_provider), signed in again there at `reauthenticated_at`.
    Refusals (SignOffRefused, BadPassword, StaleReauthentication) are audited as gate.sign.denied."""
    gate_sign_check(gate=gate, by=by)
    try:
        if reauth.signs_with_provider(by):
            if not reauth.is_fresh(reauthenticated_at):
                raise StaleReauthentication
        # Checked before the transaction: the hasher is deliberately slow, and on SQLite the
        # transaction holds the database's write lock.
        elif password is None or not by.check_password(password):
            raise BadPassword
        return _sign(
            gate=gate, by=by, decision=decision, meaning=meaning, comment=comment, state_hash=state_hash
        )
    except (SignOffRefused, BadPassword, StaleReauthentication) as refusal:
        _record_denial(gate=gate, by=by, action="sign", reason=str(refusal))
        raise


@transaction.atomic
def _sign(*, gate: Gate, by, decision: str, meaning: str, comment: str, state_hash: str) -> SignOff:
    if decision not in SignOff.Decision.values:
        raise ValidationError({"decision": "Approve or reject."})
    if decision == SignOff.Decision.REJECT and not comment.strip():
        raise ValidationError({"comment": "Say why you reject the gate."})
    if not meaning.strip():
        raise ValidationError({"meaning": "A signature needs the words it stands for."})
    gate = (
        Gate.objects.select_for_update(of=("self",))
        .select_related("release__application", "signer_group")
        .get(pk=gate.pk)
    )
    if blockers := _blockers(gate, by):  # signed or decided since the caller read it
        raise _refusal(blockers)
    if state_hash != gate_state_hash(gate):
        raise SignOffRefused(
            ["The release or the gate changed since you opened it: read it again before signing."],
            conflict=True,
        )
    signoff = SignOff.objects.create(
        gate=gate,
        signer=by,
        signer_name=by.get_full_name() or by.get_username(),
        decision=decision,
        meaning=meaning,
        comment=comment.strip(),
        signed_at=timezone.now(),
        reauthenticated=True,
        state_hash=state_hash,
    )
    audit_record(actor=by, action="signoff.create", obj=signoff)
    _decide(gate=gate, by=by)
    return signoff


def _decide(*, gate: Gate, by) -> None:
    """Any rejection fails the gate; enough approvals pass it; otherwise it keeps waiting."""
    decisions = list(gate.signoffs.values_list("decision", flat=True))
    if SignOff.Decision.REJECT in decisions:
        status = Gate.Status.FAILED
    elif decisions.count(SignOff.Decision.APPROVE) >= gate.approvals_required:
        status = Gate.Status.PASSED
    else:
        return
    before = snapshot(gate)
    gate.status, gate.decided_at = status, timezone.now()
    gate.save(update_fields=["status", "decided_at"])
    audit_record(actor=by, action="gate.decide", obj=gate, before=before)
    transaction.on_commit(lambda: gate_decided_notify_task.delay(gate_id=gate.pk))
    forecast_refresh_after_commit()  # a failed gate blocks its release


def gate_waive_check(*, gate: Gate, by) -> None:
    """Refuse, audited, when `by` may not waive `gate`."""
    blockers = []
    if not by.has_perm(WAIVE_PERMISSION):
        blockers.append(_Blocker("Only an administrator may waive a gate."))
    if gate.status not in WAIVABLE:
        blockers.append(_Blocker(f"This gate is already {gate.get_status_display().lower()}.", conflict=True))
    _refuse_audited(gate=gate, by=by, action="waive", blockers=blockers)


def gate_waive(*, gate: Gate, by, reason: str) -> Gate:
    """An admin lets a pending or failed gate through, with a reason kept and shown forever."""
    gate_waive_check(gate=gate, by=by)
    try:
        return _waive(gate=gate, by=by, reason=reason)
    except SignOffRefused as refusal:
        _record_denial(gate=gate, by=by, action="waive", reason=str(refusal))
        raise


@transaction.atomic
def _waive(*, gate: Gate, by, reason: str) -> Gate:
    if not reason.strip():
        raise ValidationError({"reason": "Say why the gate is waived: the reason is kept with it."})
    gate = Gate.objects.select_for_update(of=("self",)).get(pk=gate.pk)
    if gate.status not in WAIVABLE:  # decided since the caller read it
        raise SignOffRefused([f"This gate is already {gate.get_status_display().lower()}."], conflict=True)
    before = snapshot(gate)
    gate.status, gate.decided_at = Gate.Status.WAIVED, timezone.now()
    gate.waived_by, gate.waiver_reason = by, reason.strip()
    gate.save(update_fields=["status", "decided_at", "waived_by", "waiver_reason"])
    audit_record(actor=by, action="gate.waive", obj=gate, before=before)
    transaction.on_commit(lambda: gate_decided_notify_task.delay(gate_id=gate.pk))
    forecast_refresh_after_commit()  # a waiver lifts a failed gate's block
    return gate


def _refuse_audited(*, gate: Gate, by, action: str, blockers: list[_Blocker]) -> None:
    if blockers:
        refusal = _refusal(blockers)
        _record_denial(gate=gate, by=by, action=action, reason=str(refusal))
        raise refusal


def _refusal(blockers: list[_Blocker]) -> SignOffRefused:
    # Any rule the user breaks outranks the gate having moved on: 403 before 409.
    return SignOffRefused([b.words for b in blockers], conflict=all(b.conflict for b in blockers))


@transaction.atomic
def _record_denial(*, gate: Gate, by, action: str, reason: str) -> None:
    audit_record(
        actor=by,
        action=f"gate.{action}.denied",
        obj=gate,
        after={"release_id": gate.release_id, "reason": reason},
    )
