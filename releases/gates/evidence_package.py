"""A release's evidence package: one zip an auditor can keep and read years later without the portal.

- report.html: the release, its gates with their evidence, the sign-offs as signatures, waivers, the
  audit events with their hashes, and whether the audit chain verified; self-contained and escaped.
- evidence.json: the same, machine-readable.

The export itself is audited (`evidence.export`, with the zip's SHA-256), so a package handed over
later can be matched to the event that produced it.
"""

import hashlib
import io
import json
import re
import zipfile
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import Prefetch, Q
from django.template.loader import render_to_string
from django.utils import timezone

from releases.audit import HASHED_FIELDS, audit_record, audit_verify, event_hash, json_safe
from releases.gates.api import gate_data, release_data
from releases.models import AuditEvent, Gate, Release, SignOff

PERMISSION = "releases.verify_audit"
REPORT_TEMPLATE = "releases/evidence_report.html"


@dataclass(frozen=True)
class EvidencePackage:
    filename: str
    content: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


def evidence_export(*, release: Release, by) -> EvidencePackage:
    """Build the package, then record that `by` exported it. Built outside the transaction: verifying
    the whole chain takes seconds at scale, and the audit transaction holds the chain's head."""
    package = evidence_package_build(release=release, by=by)
    after = {"filename": package.filename, "sha256": package.sha256}
    _record(actor=by, action="evidence.export", release=release, after=after)
    return package


def evidence_export_denied(*, release: Release, by) -> None:
    _record(actor=by, action="evidence.export.denied", release=release, after={"permission": PERMISSION})


@transaction.atomic
def _record(*, actor, action: str, release: Release, after: dict) -> None:
    audit_record(actor=actor, action=action, obj=release, after=after)


def evidence_package_build(*, release: Release, by, at: datetime | None = None) -> EvidencePackage:
    at = at or timezone.now()
    data = json_safe(evidence_data(release, by=by, at=at))  # the report shows what the JSON says
    stem = safe_name(f"evidence-{release.application.key}-{release.version}-{at:%Y%m%dT%H%M%SZ}")
    files = {
        "report.html": render_to_string(REPORT_TEMPLATE, {"data": data}).encode(),
        "evidence.json": json.dumps(data, indent=2, ensure_ascii=False).encode(),
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(zipfile.ZipInfo(f"{stem}/{name}", date_time=at.timetuple()[:6]), content)
    return EvidencePackage(filename=f"{stem}.zip", content=buffer.getvalue())


def safe_name(text: str) -> str:
    """A file name made of the text's letters, digits and ".-_" only: the zip's folder and the download's
    name (a version is the tool's text: quotes, CR/LF or "../" must not reach a header or a zip path)."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", re.sub(r"\.{2,}", "_", text))
    return re.sub(r"_+", "_", name).strip("._")[:150] or "evidence"


def evidence_data(release: Release, *, by, at: datetime) -> dict:
    signoffs = Prefetch("signoffs", queryset=SignOff.objects.order_by("signed_at"))
    gates = list(
        Gate.objects.filter(release=release)
        .select_related("waived_by", "signer_group")
        .prefetch_related(signoffs)
        .order_by("due_date", "kind", "name")
    )
    return {
        "generated_at": at,
        "generated_by": by.get_full_name() or by.get_username(),
        "release": {
            **release_data(release),
            "application_name": release.application.name,
            "portfolio": release.application.portfolio.name,
            "summary": release.summary,
            "owner": (release.owner.get_full_name() or release.owner.get_username())
            if release.owner
            else None,
            "actual_date": release.actual_date,
        },
        "gates": [
            {**gate_data(gate), "signer_group": gate.signer_group.name if gate.signer_group else None}
            for gate in gates
        ],
        "audit_events": [_event_data(event) for event in _events(release, gates)],
        "chain_verification": audit_verify().as_dict(),
    }


def _events(release: Release, gates: list[Gate]):
    """Every event about the release, its gates and their sign-offs, in chain order."""
    signoff_ids = [str(s.pk) for gate in gates for s in gate.signoffs.all()]
    about = (
        Q(object_type="releases.release", object_id=str(release.pk))
        | Q(object_type="releases.gate", object_id__in=[str(gate.pk) for gate in gates])
        | Q(object_type="releases.signoff", object_id__in=signoff_ids)
    )
    return AuditEvent.objects.filter(about).order_by("seq")


def _event_data(event: AuditEvent) -> dict:
    recomputed = event_hash(**{name: getattr(event, name) for name in HASHED_FIELDS})
    return {
        "seq": event.seq,
        "at": event.created_at,
        "actor": event.actor_label,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "object": event.object_repr,
        "before": event.before,
        "after": event.after,
        "prev_hash": event.prev_hash,
        "hash": event.hash,
        "hash_matches_content": recomputed == event.hash,
    }
