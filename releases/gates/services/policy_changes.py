"""Changes to gate policies under segregation of duties.

Every change to a policy's requirements is a PolicyChange: proposed by one person, with what it was
and what it is to be. A change that weakens the policy (it removes or renames a requirement, lowers
its approvals or its criteria, changes who signs it, or overrides an inherited requirement with a
weaker one) waits, without effect, until a second person who holds `releases.approve_policychange`
approves it; the proposer never approves their own change. Any other change (a new requirement,
stricter criteria, more approvals, another due date) takes effect when proposed. Until it is
approved a weakening changes nothing, so no release passes on it; when it takes effect, gates already
decided keep their decision (releases.gates.services.policies).

Applying a change is gate_requirement_save / gate_requirement_delete, which validate and propagate.
"""

from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from releases.audit import audit_record
from releases.errors import Conflict, Refused
from releases.gates.services import evidence, policies
from releases.models import GateKind, GatePolicy, GateRequirement, PolicyChange, Portfolio

PROPOSE_PERMISSIONS = (
    "releases.add_gatepolicy",
    "releases.add_gaterequirement",
    "releases.change_gaterequirement",
    "releases.delete_gaterequirement",
)
APPROVE_PERMISSION = "releases.approve_policychange"
VALUE_FIELDS = ("kind", "name", "signer_group", "approvals_required", "criteria", "due_days_before_target")

# How each criterion reads: a higher number is stricter (+1) or looser (-1); its default applies
# when the key is absent. `result` is stricter only as "success".
_CRITERIA_DIRECTION = {
    "min_pass_rate": (+1, evidence.DEFAULT_MIN_PASS_RATE),
    "max_failed": (-1, evidence.DEFAULT_MAX_FAILED),
    "max_open_blockers": (-1, evidence.DEFAULT_MAX_OPEN_BLOCKERS),
}


def can_propose(user) -> bool:
    return user.has_perms(PROPOSE_PERMISSIONS)


def can_approve(user) -> bool:
    return user.has_perm(APPROVE_PERMISSION)


def requirement_values(requirement: GateRequirement) -> dict:
    """A requirement's values as JSON-safe data (the signer group as its id)."""
    return {
        "kind": requirement.kind,
        "name": requirement.name,
        "signer_group": requirement.signer_group_id,
        "approvals_required": requirement.approvals_required,
        "criteria": dict(requirement.criteria or {}),
        "due_days_before_target": requirement.due_days_before_target,
    }


# --- what weakens a policy (pure) ---------------------------------------------------------------------


def weakenings(before: dict | None, after: dict | None, group_names: dict[int, str]) -> list[str]:
    """How replacing `before` with `after` weakens a policy, in words; empty when it does not.
    None for `after` is a removal; None for `before` is a requirement that did not exist."""
    if before is None:
        return []
    if after is None:
        return [f"removes {before['name']}: its pending gates without a sign-off go"]
    words = []
    if (before["kind"], before["name"]) != (after["kind"], after["name"]):
        words.append(f"renames {before['name']}: its pending gates under the old name go")
    if after["approvals_required"] < before["approvals_required"]:
        words.append(
            "lets its evidence alone decide it"
            if after["approvals_required"] == 0
            else f"lowers the approvals from {before['approvals_required']} to {after['approvals_required']}"
        )
    if after["signer_group"] != before["signer_group"] and after["approvals_required"]:
        words.append(
            f"changes who signs it: {_group(before['signer_group'], group_names)} → "
            f"{_group(after['signer_group'], group_names)}"
        )
    words += _looser_criteria(before["criteria"] or {}, after["criteria"] or {})
    return words


def _group(pk: int | None, group_names: dict[int, str]) -> str:
    return "nobody" if pk is None else group_names.get(pk, f"group {pk}")


def _looser_criteria(before: dict, after: dict) -> list[str]:
    words = []
    for key, (direction, default) in _CRITERIA_DIRECTION.items():
        old, new = before.get(key, default), after.get(key, default)
        if (new - old) * direction < 0:
            words.append(
                f"loosens {key.replace('_', ' ')} from {_criterion(key, old)} to {_criterion(key, new)}"
            )
    old_result = before.get("result", evidence.DEFAULT_BUILD_RESULT)
    new_result = after.get("result", evidence.DEFAULT_BUILD_RESULT)
    if new_result != old_result and new_result != evidence.DEFAULT_BUILD_RESULT:
        words.append(f"accepts a build that is {new_result}, not only {old_result}")
    for key in sorted(set(before) - {*_CRITERIA_DIRECTION, "result"}):
        if after.get(key) != before[key]:
            words.append(f"changes or drops the criterion {key} ({before[key]})")
    return words


def _criterion(key: str, value) -> str:
    return evidence.percent(value) if key == "min_pass_rate" else str(value)


# --- writes -------------------------------------------------------------------------------------------


def policy_change_propose(
    *,
    portfolio: Portfolio | None,
    by,
    action: str,
    requirement: GateRequirement | None = None,
    values: dict | None = None,
    reason: str = "",
) -> PolicyChange | None:
    """Propose adding, changing or removing a requirement of `portfolio`'s policy (None: the global
    one). Applied at once unless it weakens the policy; None when it changes nothing. Raises
    ValidationError for bad values, Refused without the permission, Conflict when a change to the
    same requirement already waits."""
    if not can_propose(by):
        _deny(by, "propose", {"portfolio": portfolio.pk if portfolio else None})
        raise Refused("Your role does not change gate policies.")
    with transaction.atomic():
        change = _proposal(portfolio, by, action, requirement, values, reason.strip())
        if change is None:
            return None
        audit_record(actor=by, action="policychange.propose", obj=change)
        if not change.needs_approval:
            _apply(change, by=by)
        return change


def policy_change_approve(*, change: PolicyChange, by, comment: str = "") -> PolicyChange:
    """A second person lets a waiting change take effect. Conflict when the requirement changed
    since the proposal (the approver would approve something they did not read)."""
    _check_decider(change, by, "approve")
    try:
        with transaction.atomic():
            change = _locked_pending(change)
            change.decided_by, change.decision_comment = by, comment.strip()
            _apply(change, by=by)
            audit_record(actor=by, action="policychange.approve", obj=change)
            return change
    except Conflict as conflict:
        _deny(by, "approve", {"change": change.pk, "reason": str(conflict)})
        raise


@transaction.atomic
def policy_change_reject(*, change: PolicyChange, by, comment: str) -> PolicyChange:
    _check_decider(change, by, "reject")
    if not comment.strip():
        raise ValidationError({"comment": "Say why you reject the change: the proposer reads it."})
    change = _locked_pending(change)
    change.status, change.decided_by, change.decided_at = PolicyChange.Status.REJECTED, by, timezone.now()
    change.decision_comment = comment.strip()
    change.save(update_fields=["status", "decided_by", "decided_at", "decision_comment"])
    audit_record(actor=by, action="policychange.reject", obj=change)
    return change


@transaction.atomic
def policy_change_withdraw(*, change: PolicyChange, by) -> PolicyChange:
    if change.proposed_by_id != by.pk:
        _deny(by, "withdraw", {"change": change.pk})
        raise Refused("Only the person who proposed a change withdraws it.")
    change = _locked_pending(change)
    change.status, change.decided_at = PolicyChange.Status.WITHDRAWN, timezone.now()
    change.save(update_fields=["status", "decided_at"])
    audit_record(actor=by, action="policychange.withdraw", obj=change)
    return change


def _check_decider(change: PolicyChange, by, verb: str) -> None:
    reasons = []
    if not can_approve(by):
        reasons.append("Your role does not approve policy changes: a governance officer or an admin does.")
    if change.proposed_by_id == by.pk:
        reasons.append("You proposed this change: a second person decides on it.")
    if reasons:
        _deny(by, verb, {"change": change.pk})
        raise Refused(" ".join(reasons))


def _locked_pending(change: PolicyChange) -> PolicyChange:
    change = PolicyChange.objects.select_for_update().select_related("policy").get(pk=change.pk)
    if change.status != PolicyChange.Status.PENDING:
        raise Conflict(f"This change is already {change.get_status_display().lower()}.")
    return change


def _proposal(portfolio, by, action, requirement, values, reason) -> PolicyChange | None:
    policy = GatePolicy.objects.filter(portfolio=portfolio).first() or policies.gate_policy_create(
        portfolio=portfolio, by=by
    )
    before, after = None, None
    if action == PolicyChange.Action.ADD:
        after = _validated(policy, None, values)
        before = _inherited(portfolio, after)
    else:
        requirement = GateRequirement.objects.select_for_update().get(pk=requirement.pk, policy=policy)
        _refuse_if_waiting(requirement)
        before = requirement_values(requirement)
        if action == PolicyChange.Action.CHANGE:
            after = _validated(policy, requirement, values)
            if after == before:
                return None
    group_names = dict(Group.objects.values_list("pk", "name"))
    weakens = weakenings(before, after, group_names)
    if weakens and not reason:
        raise ValidationError(
            {"reason": f"This change weakens the policy ({'; '.join(weakens)}): say why, for its approver."}
        )
    return PolicyChange.objects.create(
        policy=policy,
        requirement=requirement,
        action=action,
        subject=_subject(after or before),
        before=before,
        after=after,
        weakens=weakens,
        needs_approval=bool(weakens),
        reason=reason,
        proposed_by=by,
        proposed_at=timezone.now(),
    )


def _subject(values: dict) -> str:
    return f"{values['name']} ({GateKind(values['kind']).label})"[:200]


def _refuse_if_waiting(requirement: GateRequirement) -> None:
    waiting = (
        requirement.changes.filter(status=PolicyChange.Status.PENDING).select_related("proposed_by").first()
    )
    if waiting is not None:
        who = waiting.proposed_by.get_full_name() or waiting.proposed_by.get_username()
        raise Conflict(
            f"A change to {requirement.name} proposed by {who} waits for approval: "
            "it is approved, rejected or withdrawn before another is proposed."
        )


def _validated(policy: GatePolicy, requirement: GateRequirement | None, values: dict) -> dict:
    """The proposed values, checked as gate_requirement_save checks them (nothing is saved)."""
    candidate = GateRequirement(pk=requirement.pk if requirement else None, policy=policy)
    candidate._state.adding = requirement is None  # a change validates as the row it replaces
    for name in VALUE_FIELDS:
        setattr(candidate, name, values[name])
    policies.requirement_validate(candidate)
    return requirement_values(candidate)


def _inherited(portfolio: Portfolio | None, after: dict) -> dict | None:
    """The requirement a new one with the same kind and name would override here, if any."""
    if portfolio is None:
        return None
    inherited = policies.effective_requirements(portfolio.parent if portfolio.parent_id else None)
    match = next((r for r in inherited if (r.kind, r.name) == (after["kind"], after["name"])), None)
    return requirement_values(match) if match else None


def _apply(change: PolicyChange, *, by) -> None:
    """Make the change the policy's, through the requirement services (validated, audited,
    propagated to open releases after the commit)."""
    if change.action != PolicyChange.Action.ADD:
        requirement = GateRequirement.objects.select_for_update().filter(pk=change.requirement_id).first()
        if requirement is None or requirement_values(requirement) != change.before:
            raise Conflict(f"{change.subject} changed since this was proposed: propose the change again.")
    try:
        if change.action == PolicyChange.Action.REMOVE:
            policies.gate_requirement_delete(requirement=requirement, by=by)
            change.requirement = None
        else:
            values = dict(change.after)
            group = values.pop("signer_group")
            values["signer_group"] = Group.objects.get(pk=group) if group is not None else None
            change.requirement = policies.gate_requirement_save(
                policy=change.policy,
                by=by,
                requirement=requirement if change.action == PolicyChange.Action.CHANGE else None,
                **values,
            )
    except (ValidationError, IntegrityError, Group.DoesNotExist) as invalid:
        raise Conflict(f"{change.subject} can no longer be applied as proposed: {_words(invalid)}") from None
    change.status, change.effective_at = PolicyChange.Status.APPLIED, timezone.now()
    if change.decided_by_id is not None:  # approved by a second person, now
        change.decided_at = change.effective_at
    change.save(
        update_fields=[
            "requirement",
            "status",
            "effective_at",
            "decided_by",
            "decided_at",
            "decision_comment",
        ]
    )


def _words(error: Exception) -> str:
    return " ".join(error.messages) if isinstance(error, ValidationError) else "the policy changed since."


def _deny(by, verb: str, target: dict) -> None:
    """Recorded in its own transaction (gate_policy_change_denied's), so it outlives the refusal."""
    policies.gate_policy_change_denied(by=by, attempt=f"policychange.{verb}", target=target)
