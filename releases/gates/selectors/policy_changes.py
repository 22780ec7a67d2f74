"""Policy changes as the policy pages show them: what changes, in words, and who may do what next."""

from dataclasses import dataclass

from releases.gates.forms import CRITERIA_KINDS
from releases.gates.services import policy_changes
from releases.gates.services.evidence import percent
from releases.models import GateKind, PolicyChange

LABELS = {
    "kind": "Kind",
    "name": "Name",
    "signer_group": "Signed by",
    "approvals_required": "Approvals",
    "criteria": "Criteria",
    "due_days_before_target": "Due (days before target)",
}
HISTORY_LENGTH = 10


def criteria_words(criteria: dict) -> str:
    """Automatic criteria in words, e.g. "pass rate ≥ 95%, failed ≤ 0"."""
    criteria, words = criteria or {}, []
    if "min_pass_rate" in criteria:
        words.append(f"pass rate ≥ {percent(criteria['min_pass_rate'])}")
    if "max_failed" in criteria:
        words.append(f"failed ≤ {criteria['max_failed']}")
    if "max_open_blockers" in criteria:
        words.append(f"open work items ≤ {criteria['max_open_blockers']}")
    if "result" in criteria:
        words.append(f"build {criteria['result']}")
    words += [f"{key} {value}" for key, value in criteria.items() if key not in CRITERIA_KINDS]
    return ", ".join(words)


@dataclass(frozen=True)
class ChangeRow:
    change: PolicyChange
    lines: list[tuple[str, str, str]]  # (what, before, after) for each value that changes
    can_decide: bool  # approve or reject
    can_withdraw: bool


def change_rows(changes, *, user, group_names: dict[int, str]) -> list[ChangeRow]:
    approver = policy_changes.can_approve(user)
    return [
        ChangeRow(
            change,
            change_lines(change.before, change.after, group_names),
            can_decide=pending(change) and approver and change.proposed_by_id != user.pk,
            can_withdraw=pending(change) and change.proposed_by_id == user.pk,
        )
        for change in changes
    ]


def pending(change: PolicyChange) -> bool:
    return change.status == PolicyChange.Status.PENDING


def change_lines(before: dict | None, after: dict | None, group_names: dict[int, str]) -> list[tuple]:
    lines = []
    for field, label in LABELS.items():
        old = _words(field, before[field], group_names) if before else "—"
        new = _words(field, after[field], group_names) if after else "—"
        if old != new:
            lines.append((label, old, new))
    return lines


def _words(field: str, value, group_names: dict[int, str]) -> str:
    if field == "signer_group":
        return group_names.get(value, f"group {value}") if value is not None else "nobody (evidence)"
    if field == "criteria":
        return criteria_words(value) or "defaults"
    if field == "kind":
        return GateKind(value).label
    return str(value)


def changes_of(policy_ids=None):
    """Policy changes with the people and the policy they name, for a list (one query)."""
    changes = PolicyChange.objects.select_related("proposed_by", "decided_by", "policy__portfolio")
    return changes if policy_ids is None else changes.filter(policy_id__in=policy_ids)


def pending_changes(policy_ids=None) -> list[PolicyChange]:
    return list(
        changes_of(policy_ids).filter(status=PolicyChange.Status.PENDING).order_by("proposed_at", "pk")
    )


def recent_changes(policy_id: int) -> list[PolicyChange]:
    decided = changes_of([policy_id]).exclude(status=PolicyChange.Status.PENDING)
    return list(decided.order_by("-proposed_at", "-pk")[:HISTORY_LENGTH])
