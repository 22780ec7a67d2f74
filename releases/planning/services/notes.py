"""Writes on release notes: save a draft, publish. Each in one transaction with its audit event."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from releases.audit import audit_record
from releases.models import Release, ReleaseNotes
from releases.planning.notes import MAX_MARKDOWN


@transaction.atomic
def release_notes_save(*, release: Release, markdown: str, by, publish: bool = False) -> ReleaseNotes:
    """Keep `markdown` as the release's notes; `publish` also publishes them (who, and when last). A
    save after publishing keeps them published with the new text; the audit trail has each text."""
    markdown = markdown.replace("\r\n", "\n").strip()
    if not markdown:
        raise ValidationError({"markdown": "Write the notes first, or draft them from the release's facts."})
    if len(markdown) > MAX_MARKDOWN or "\x00" in markdown:
        raise ValidationError({"markdown": f"Notes are text of at most {MAX_MARKDOWN:,} characters."})
    notes = ReleaseNotes.objects.select_for_update().filter(release=release).first()
    before = {"markdown": notes.markdown, "published": bool(notes.published_at)} if notes else None
    notes = notes or ReleaseNotes(release=release)
    notes.markdown, notes.updated_by = markdown, by
    if publish:
        notes.published_at, notes.published_by = timezone.now(), by
    notes.save()
    after = {"markdown": markdown, "published": bool(notes.published_at)}
    action = "release.notes_publish" if publish else "release.notes_save"
    audit_record(actor=by, action=action, obj=release, before=before, after=after)
    return notes
