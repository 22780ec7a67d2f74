"""Release notes: drafted from the release's work items (grouped by type) and merged pull requests (with
links), edited and published by those who plan releases, audited, read by everyone as HTML and
downloaded as Markdown; titles from other tools cannot inject markup or script."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from portal import roles
from releases.models import AuditEvent, PullRequest, ReleaseNotes, WorkItem
from releases.planning.notes import notes_draft, notes_html
from releases.planning.services.notes import release_notes_save
from tests import factories as f

pytestmark = pytest.mark.django_db


def item(release, key, title, kind, **fields):
    work_item = f.WorkItemFactory(application=release.application, key=key, title=title, type=kind, **fields)
    work_item.fix_releases.add(release)
    return work_item


def merged_pull(release, number, title, url="https://github.example/acme/pay/pull/{n}"):
    at = timezone.now() - timedelta(days=1)
    return f.PullRequestFactory(
        application=release.application,
        release=release,
        repository="acme/pay",
        number=number,
        title=title,
        state=PullRequest.State.MERGED,
        merged_at=at,
        closed_at=at,
        url=url.format(n=number),
    )


def test_the_draft_groups_work_items_by_type_and_links_merged_pull_requests():
    release = f.ReleaseFactory()
    item(release, "PAY-2", "Fee breakdown", WorkItem.Type.STORY)
    item(release, "PAY-1", "Rounding error", WorkItem.Type.BUG)
    item(release, "PAY-3", "Bump library", WorkItem.Type.TASK)
    item(release, "PAY-4", "Dropped", WorkItem.Type.STORY, descoped=True)
    merged_pull(release, 12, "Show fees")
    f.PullRequestFactory(application=release.application, release=release, number=13, title="Still open")
    draft = notes_draft(release)
    assert draft.index("## New") < draft.index("PAY-2") < draft.index("## Fixed") < draft.index("PAY-1")
    assert "## Other changes" in draft and "Bump library" in draft
    assert "Dropped" not in draft and "Still open" not in draft  # descoped; not merged
    assert "[acme/pay#12](https://github.example/acme/pay/pull/12) Show fees" in draft
    html = notes_html(draft)
    assert '<a href="https://github.example/acme/pay/pull/12">acme/pay#12</a>' in html
    assert "<h2>Fixed</h2>" in html and "<strong>PAY-1</strong> Rounding error" in html


def test_titles_from_other_tools_cannot_inject_markup_links_or_script():
    release = f.ReleaseFactory()
    item(release, "PAY-9", "<script>alert(1)</script> [x](javascript:alert(2)) **bold**", WorkItem.Type.BUG)
    merged_pull(release, 5, "Evil link", url="javascript:alert(3)")
    html = notes_html(notes_draft(release))
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "javascript:" not in html.replace("javascript:alert(2)", "")  # shown as text, never a link
    assert 'href="javascript' not in html and "<strong>bold</strong>" not in html
    typed = notes_html("<img src=x onerror=alert(1)> [go](javascript:alert(1)) [ok](https://example.com)")
    assert (
        "<img" not in typed
        and 'href="javascript' not in typed
        and '<a href="https://example.com">ok</a>' in typed
    )


def test_an_empty_scope_says_so():
    assert "Nothing is in this release's scope yet." in notes_draft(f.ReleaseFactory())


def test_saving_and_publishing_are_audited_with_each_text(user_in_role):
    manager = user_in_role(roles.RELEASE_MANAGER)
    release = f.ReleaseFactory()
    notes = release_notes_save(release=release, markdown="# Draft\r\n", by=manager)
    assert notes.markdown == "# Draft" and notes.published_at is None
    notes = release_notes_save(release=release, markdown="# Final", by=manager, publish=True)
    assert notes.published_by == manager and notes.published_at is not None
    events = AuditEvent.objects.filter(object_id=str(release.pk)).order_by("seq")
    assert [(e.action, e.after["markdown"]) for e in events] == [
        ("release.notes_save", "# Draft"),
        ("release.notes_publish", "# Final"),
    ]
    assert events[1].before == {"markdown": "# Draft", "published": False}
    for bad in ["", "   ", "x\x00y", "x" * 100_001]:
        with pytest.raises(ValidationError):
            release_notes_save(release=release, markdown=bad, by=manager)
    assert ReleaseNotes.objects.get(release=release).markdown == "# Final"


def test_a_release_manager_drafts_edits_and_publishes_in_the_browser_form(client_for):
    manager = client_for(roles.RELEASE_MANAGER)
    release = f.ReleaseFactory()
    item(release, "PAY-1", "Rounding error", WorkItem.Type.BUG)
    page = manager.get(f"/releases/{release.pk}/notes/").content.decode()
    assert "Draft from the release" in page and "Rounding error" in page and "No notes yet" in page
    response = manager.post(
        f"/releases/{release.pk}/notes/", {"markdown": "## Fixed\n- Rounding", "publish": "1"}
    )
    assert response.status_code == 302
    notes = ReleaseNotes.objects.get(release=release)
    assert notes.published_at is not None and notes.markdown == "## Fixed\n- Rounding"
    download = manager.get(f"/releases/{release.pk}/notes.md")
    assert (
        download["Content-Type"].startswith("text/markdown") and download.content == b"## Fixed\n- Rounding\n"
    )
    assert "attachment" in download["Content-Disposition"]


def test_everyone_reads_the_notes_and_only_planners_write_them(client_for):
    release = f.ReleaseFactory()
    office = client_for(roles.PROJECT_OFFICE)
    assert "No notes have been written" in office.get(f"/releases/{release.pk}/notes/").content.decode()
    assert office.get(f"/releases/{release.pk}/notes.md").status_code == 404
    assert office.post(f"/releases/{release.pk}/notes/", {"markdown": "# Mine"}).status_code == 403
    assert not ReleaseNotes.objects.exists()
    assert Client().get(f"/releases/{release.pk}/notes/").status_code == 302
    assert office.get("/releases/999999/notes/").status_code == 404


@pytest.mark.parametrize("markdown", ["", "x\x00", "y" * 100_001])
def test_bad_notes_are_a_form_error_that_saves_nothing(client_for, markdown):
    manager = client_for(roles.RELEASE_MANAGER)
    release = f.ReleaseFactory()
    response = manager.post(f"/releases/{release.pk}/notes/", {"markdown": markdown})
    assert response.status_code in (400, 422) and not ReleaseNotes.objects.exists()


def test_the_notes_page_reads_the_same_queries_for_few_and_many_items(client_for):
    manager = client_for(roles.RELEASE_MANAGER)
    release = f.ReleaseFactory()

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert manager.get(f"/releases/{release.pk}/notes/").status_code == 200
        return len(captured)

    item(release, "PAY-1", "One", WorkItem.Type.BUG)
    few = queries()
    for n in range(2, 12):
        item(release, f"PAY-{n}", f"Item {n}", WorkItem.Type.STORY)
        merged_pull(release, n, f"Pull {n}")
    assert queries() == few
