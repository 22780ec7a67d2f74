"""A release's notes: read by everyone, drafted from the release's facts, edited and published by
those who plan releases, and downloaded as Markdown."""

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from releases.errors import form_add_errors
from releases.models import Release, ReleaseNotes
from releases.planning.notes import MAX_MARKDOWN, notes_draft, notes_html
from releases.planning.selectors.release_page import ReleasePage
from releases.planning.services.notes import release_notes_save


class NotesForm(forms.Form):
    markdown = forms.CharField(
        label="Notes (Markdown)", max_length=MAX_MARKDOWN, widget=forms.Textarea(attrs={"rows": 18})
    )
    publish = forms.BooleanField(required=False, widget=forms.HiddenInput)


@require_http_methods(["GET", "POST"])
def release_notes(request, pk: int):
    release = get_object_or_404(Release.objects.select_related("application"), pk=pk)
    notes = ReleaseNotes.objects.select_related("published_by", "updated_by").filter(release=release).first()
    may_edit = request.user.has_perm(ReleasePage.EDIT_PERMISSION)
    if request.method == "POST":
        if not may_edit:
            raise PermissionDenied("Only those who plan releases edit their notes.")
        return _save(request, release, notes)
    drafting = may_edit and (notes is None or request.GET.get("draft") == "1")
    markdown = notes_draft(release) if drafting else notes.markdown if notes else ""
    form = NotesForm(initial={"markdown": markdown}) if may_edit else None
    return _page(request, release, notes, form, markdown, drafting=drafting)


@require_GET
def release_notes_markdown(request, pk: int):
    notes = ReleaseNotes.objects.filter(release_id=pk).select_related("release__application").first()
    if notes is None:
        raise Http404("This release has no notes yet.")
    response = HttpResponse(notes.markdown + "\n", content_type="text/markdown; charset=utf-8")
    name = f"{notes.release.application.key}-{notes.release.version}".encode("ascii", "ignore").decode()
    safe = "".join(c if c.isalnum() or c in ".-_" else "-" for c in name) or "release"
    response["Content-Disposition"] = f'attachment; filename="{safe}-notes.md"'
    return response


def _save(request, release, notes):
    form = NotesForm(request.POST)
    if form.is_valid():
        publish = form.cleaned_data["publish"]
        try:
            markdown = form.cleaned_data["markdown"]
            release_notes_save(release=release, markdown=markdown, by=request.user, publish=publish)
        except ValidationError as refusal:
            form_add_errors(form, refusal)
        else:
            messages.success(request, "Notes published." if publish else "Draft saved: not published yet.")
            return redirect("releases:notes", pk=release.pk)
    markdown = form.data.get("markdown", "")[:MAX_MARKDOWN]
    return _page(request, release, notes, form, markdown, drafting=True, status=422)


def _page(request, release, notes, form, markdown: str, *, drafting: bool, status: int = 200):
    context = {
        "release": release,
        "notes": notes,
        "form": form,
        "drafting": drafting,
        "html": notes_html(markdown) if markdown else "",
    }
    return render(request, "releases/release_notes.html", context, status=status)
