"""An audit event in words, for the audit trail page and a release's timeline: pure functions over
plain values (the names are looked up by the page's selector, never here).

    event_sentence(action="signoff.create", actor="Sofia Martins", after={"decision": "approve"},
                   gate="Security review", release="PAY 4.2.0")
    -> "Sofia Martins approved Security review of PAY 4.2.0"
"""

import json
from dataclasses import dataclass

BOOKING_VERBS = {
    "request": "requested",
    "approve": "approved",
    "reject": "rejected",
    "cancel": "cancelled",
    "shorten": "shortened",
    "freeze_override": "overrode the freeze for",
}
RELEASE_VERBS = {
    "create": "created",
    "update": "changed",
    "delete": "deleted",
    "freeze_override": "overrode the freeze for",
    "scope_change": "changed the scope of",
}
REQUIREMENT_VERBS = {"create": "added", "update": "changed", "delete": "removed"}
POLICY_CHANGE_VERBS = {
    "propose": "proposed",
    "approve": "approved the policy change",
    "reject": "rejected the policy change",
    "withdraw": "withdrew the policy change",
}
HIDDEN_FIELDS = {"id"}
VALUE_LENGTH = 120


@dataclass(frozen=True)
class Change:
    field: str
    old: str
    new: str


def event_sentence(
    *,
    action: str,
    actor: str,
    before: dict | None = None,
    after: dict | None = None,
    object_repr: str = "",
    object_type: str = "",
    object_id: str = "",
    gate: str = "",
    release: str = "",
) -> str:
    """One sentence a reader understands: who did what to which gate or release."""
    before, after = before if isinstance(before, dict) else {}, after if isinstance(after, dict) else {}
    data = after or before
    noun, _, verb = action.partition(".")
    of_release = f" of {release}" if release else ""
    gate = gate or str(data.get("name") or "") or "a gate"
    thing = object_repr or (f"{object_type} #{object_id}" if object_id else object_type) or "an object"

    if action in ("gate.sign.denied", "gate.waive.denied"):
        verb = "sign" if action == "gate.sign.denied" else "waive"
        reason = _short(after.get("reason"))
        return f"{actor} tried to {verb} {gate}{of_release} and was refused" + (
            f": {reason}" if reason else ""
        )
    if action == "signoff.create":
        decision = after.get("decision")
        if decision == "reject":
            comment = _short(after.get("comment"))
            return f"{actor} rejected {gate}{of_release}" + (f": “{comment}”" if comment else "")
        return f"{actor} approved {gate}{of_release}"
    if noun == "gate":
        return _gate_sentence(verb, actor, gate, of_release, before, after)
    if noun == "release" and verb in RELEASE_VERBS:
        label = release or thing
        changes = event_changes(before, after) if verb == "update" else []
        detail = ": " + "; ".join(f"{c.field} {c.old} → {c.new}" for c in changes[:3]) if changes else ""
        return f"{actor} {RELEASE_VERBS[verb]} release {label}{detail}"
    if noun == "booking" and verb in BOOKING_VERBS:
        return f"{actor} {BOOKING_VERBS[verb]} the booking {thing}" + (f" for {release}" if release else "")
    if noun == "gaterequirement" and verb in REQUIREMENT_VERBS:
        return f"{actor} {REQUIREMENT_VERBS[verb]} the gate requirement {_short(data.get('repr')) or thing}"
    if noun == "policychange" and verb in POLICY_CHANGE_VERBS:
        return _policy_change_sentence(verb, actor, thing, after)
    if action == "user.sso_sign_in":  # portal.sso: the roles the provider's groups gave
        first = " for the first time" if after.get("created") else ""
        roles = ", ".join(str(role) for role in after.get("roles") or []) or "none"
        return f"{actor} signed in through the identity provider{first}; roles: {roles}"
    if action == "testrun.record":
        counts = f"{after.get('passed', 0)} passed, {after.get('failed', 0)} failed"
        return f"{actor} recorded a test run for {release or 'a release'}: {counts}"
    if action == "evidence.export":
        return f"{actor} exported the evidence package of {release or thing}"
    if verb.endswith(".denied") or action.endswith(".denied"):
        reason = _short(after.get("reason")) or _short(after.get("permission"))
        return f"{actor} was refused: {action.removesuffix('.denied')} on {thing}" + (
            f" ({reason})" if reason else ""
        )
    return f"{actor}: {action} on {thing}"


def _policy_change_sentence(verb: str, actor: str, change: str, after: dict) -> str:
    """ "Tom Becker proposed: Remove CAB approval (CAB), waiting for a second person: “reason”"."""
    if verb == "propose":
        waits = (
            ", waiting for a second person's approval"
            if after.get("needs_approval")
            else ", in effect at once"
        )
        reason = _short(after.get("reason"))
        return f"{actor} proposed: {change}{waits}" + (f": “{reason}”" if reason else "")
    comment = _short(after.get("decision_comment"))
    return f"{actor} {POLICY_CHANGE_VERBS[verb]} {change}" + (f": “{comment}”" if comment else "")


def _gate_sentence(verb: str, actor: str, gate: str, of_release: str, before: dict, after: dict) -> str:
    if verb == "decide":
        return f"{gate}{of_release} {after.get('status') or 'was decided'}"
    if verb == "waive":
        reason = _short(after.get("waiver_reason"))
        return f"{actor} waived {gate}{of_release}" + (f": “{reason}”" if reason else "")
    if verb == "evidence":
        summary = _short(after.get("evidence_summary"))
        status = after.get("status")
        moved = f"; the gate is now {status}" if status and status != before.get("status") else ""
        return f"New evidence for {gate}{of_release}" + (f": {summary}" if summary else "") + moved
    if verb == "create":
        return f"{actor} added the gate {gate}{of_release}"
    if verb == "delete":
        return f"{actor} removed the gate {gate}{of_release}"
    if verb == "update":
        changes = event_changes(before, after)
        detail = ": " + "; ".join(f"{c.field} {c.old} → {c.new}" for c in changes[:3]) if changes else ""
        return f"{actor} changed the gate {gate}{of_release}{detail}"
    return f"{actor}: gate.{verb} on {gate}{of_release}"


def event_changes(before: dict | None, after: dict | None) -> list[Change]:
    """Field by field, what changed: old → new in words ("—" for nothing). An event with only an after
    (a creation) lists its values; with only a before (a deletion), what was removed."""
    before = before if isinstance(before, dict) else {}
    after = after if isinstance(after, dict) else {}
    changes = []
    for name in sorted(set(before) | set(after)):
        if name in HIDDEN_FIELDS:
            continue
        old, new = before.get(name), after.get(name)
        if name in before and name in after and old == new:
            continue
        changes.append(Change(field_label(name), shown(old), shown(new)))
    return changes


def field_label(name: str) -> str:
    return name.removesuffix("_id").replace("_", " ").capitalize()


def shown(value) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (dict, list)):
        value = json.dumps(value, ensure_ascii=False, sort_keys=True)
    text = str(value)
    return text if len(text) <= VALUE_LENGTH else text[: VALUE_LENGTH - 1] + "…"


def _short(value) -> str:
    return shown(value) if value not in (None, "") else ""
