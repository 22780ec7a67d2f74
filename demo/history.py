"""The governance history of the demo: the policy changes and the audit events a real history has.

The seed inserts its rows in bulk, as an import does. An auditor reading the trail still expects
what a year of real use would have written: each requirement proposed and put in force, a weakening
approved by a second person and one still waiting, every sign-off, every decision (at the time of
the signature or the evidence that decided it) and every waiver. `governance_history()` writes those
events, in the order of their times, by the people who acted, into the one keyed chain.
"""

from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from releases.audit import audit_record_many, snapshot
from releases.gates.services.policy_changes import requirement_values, weakenings
from releases.models import Gate, GateKind, GateRequirement, PolicyChange, SignOff

CHUNK = 5000
POLICY_DAYS_BACK = 91  # the policies took effect the day before the oldest gates (demo.generation.gates)
PROPOSER, APPROVER, MANAGER = "gov", "admin", "rm"


def governance_history(*, now: datetime) -> int:
    """Create the demo's policy changes and write the audit events of its whole history, up to
    `now` (the start of the anchor day). Returns how many events were written."""
    users = get_user_model().objects.in_bulk([PROPOSER, APPROVER, MANAGER], field_name="username")
    entries = _policy_history(users, now) + _signoff_history() + _decision_history()
    entries.sort(key=lambda entry: entry["at"])
    for start in range(0, len(entries), CHUNK):
        audit_record_many(actor=None, entries=entries[start : start + CHUNK])
    return len(entries)


# --- policies -------------------------------------------------------------------------------------


def _policy_history(users: dict, now: datetime) -> list[dict]:
    """Every requirement proposed by the governance officer when the policies took effect (stricter
    than nothing, so in force at once); Digital Channels' QA pass rate lowered from 99% to 98%, a
    weakening the admin approved; and Payments' PCI review cut to one approval, still waiting."""
    start = now - timedelta(days=POLICY_DAYS_BACK)
    requirements = list(GateRequirement.objects.select_related("policy").order_by("pk"))
    groups = dict(Group.objects.values_list("pk", "name"))
    entries = []
    for n, requirement in enumerate(requirements):
        values = requirement_values(requirement)
        if _is(requirement, "digital-channels", GateKind.QA):
            values["criteria"] = values["criteria"] | {"min_pass_rate": 0.99}
        at = start + timedelta(minutes=5 * n)
        change = _change(requirement, "add", None, values, users[PROPOSER], at, groups)
        entries += _applied(change, requirement, at, before=None, after=values)
    entries += _approved_weakening(requirements, users, now - timedelta(days=40), groups)
    entries += _waiting_weakening(requirements, users, now - timedelta(days=2), groups)
    return entries


def _is(requirement: GateRequirement, slug: str, kind: str) -> bool:
    portfolio = requirement.policy.portfolio
    return portfolio is not None and portfolio.slug == slug and requirement.kind == kind


def _approved_weakening(requirements, users, at: datetime, groups) -> list[dict]:
    requirement = next((r for r in requirements if _is(r, "digital-channels", GateKind.QA)), None)
    if requirement is None:  # a scale without Digital Channels
        return []
    after = requirement_values(requirement)
    before = after | {"criteria": after["criteria"] | {"min_pass_rate": 0.99}}
    change = _change(
        requirement,
        "change",
        before,
        after,
        users[MANAGER],
        at,
        groups,
        reason="Flaky visual tests hold every release; they are quarantined and tracked in DIG-812.",
    )
    decided = at + timedelta(hours=20)
    change.status, change.decided_by, change.decided_at, change.effective_at = (
        "applied",
        users[APPROVER],
        decided,
        decided,
    )
    change.decision_comment = "Approved for one quarter; back to 99% when DIG-812 closes."
    change.save()
    return [
        _entry(users[MANAGER], at, "policychange.propose", change, after=_proposed(change)),
        _entry(
            users[APPROVER], decided, "gaterequirement.update", requirement, before=_with(requirement, before)
        ),
        _entry(users[APPROVER], decided, "policychange.approve", change),
    ]


def _waiting_weakening(requirements, users, at: datetime, groups) -> list[dict]:
    requirement = next((r for r in requirements if _is(r, "payments", GateKind.COMPLIANCE)), None)
    if requirement is None:
        return []
    before = requirement_values(requirement)
    change = _change(
        requirement,
        "change",
        before,
        before | {"approvals_required": 1},
        users[MANAGER],
        at,
        groups,
        reason="The second PCI reviewer is the peak week's bottleneck; one reviewer and the scan suffice.",
    )
    return [_entry(users[MANAGER], at, "policychange.propose", change)]


def _change(requirement, action, before, after, by, at, groups, reason="") -> PolicyChange:
    weakens = weakenings(before, after, groups)
    return PolicyChange.objects.create(
        policy=requirement.policy,
        requirement=requirement,
        action=action,
        subject=f"{requirement.name} ({requirement.get_kind_display()})",
        before=before,
        after=after,
        weakens=weakens,
        needs_approval=bool(weakens),
        reason=reason,
        proposed_by=by,
        proposed_at=at,
    )


def _applied(change: PolicyChange, requirement, at, *, before, after) -> list[dict]:
    """A change in force when proposed: its proposal, and the requirement it made (as it was then)."""
    change.status, change.effective_at = "applied", at
    change.save(update_fields=["status", "effective_at"])
    proposer = change.proposed_by
    return [
        _entry(proposer, at, "policychange.propose", change, after=_proposed(change)),
        _entry(proposer, at, "gaterequirement.create", requirement, after=_with(requirement, after)),
    ]


def _proposed(change: PolicyChange) -> dict:
    """The change as it stood when proposed (before anyone decided it)."""
    return snapshot(change) | {
        "status": "pending",
        "decided_by_id": None,
        "decided_at": None,
        "effective_at": None,
    }


def _with(requirement: GateRequirement, values: dict) -> dict:
    """The requirement's snapshot with these values (the signer group as its id column)."""
    data = snapshot(requirement)
    data.update({k: v for k, v in values.items() if k != "signer_group"})
    data["signer_group_id"] = values["signer_group"]
    return data


# --- gates ----------------------------------------------------------------------------------------


def _signoff_history() -> list[dict]:
    signoffs = SignOff.objects.select_related("signer").order_by("pk")
    return [_entry(s.signer, s.signed_at, "signoff.create", s) for s in signoffs.iterator(chunk_size=CHUNK)]


def _decision_history() -> list[dict]:
    """Each decided gate's decision: by its deciding signature, its waiver or its evidence."""
    deciders = {}
    for gate_id, signer, signed_at in SignOff.objects.values_list("gate_id", "signer", "signed_at").order_by(
        "gate_id", "signed_at"
    ):
        deciders[gate_id] = (signer, signed_at)  # the latest signature decided it
    users = get_user_model().objects.in_bulk({signer for signer, _ in deciders.values()})
    decided = Gate.objects.exclude(status=Gate.Status.PENDING).select_related("waived_by").order_by("pk")
    entries = []
    for gate in decided.iterator(chunk_size=CHUNK):
        before = {"status": "pending", "decided_at": None}
        if gate.status == Gate.Status.WAIVED:
            entries.append(_entry(gate.waived_by, gate.decided_at, "gate.waive", gate, before=before))
        elif gate.pk in deciders:
            entries.append(
                _entry(users[deciders[gate.pk][0]], gate.decided_at, "gate.decide", gate, before=before)
            )
        else:
            after = {
                "status": gate.status,
                "decided_at": gate.decided_at,
                "evidence_summary": gate.evidence_summary,
            }
            entries.append(_entry(None, gate.decided_at, "gate.evidence", gate, before=before, after=after))
    return entries


def _entry(actor, at, action: str, obj, *, before=None, after=None) -> dict:
    return {"actor": actor, "at": at, "action": action, "obj": obj, "before": before, "after": after}
