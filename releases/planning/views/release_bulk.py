"""Bulk changes from the release list: the preview of what would change (each release, and what the
forecast would do downstream), then the change itself. Both are POSTs of the same form; only the
second, with `confirm`, writes."""

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from releases.errors import form_add_errors
from releases.planning import odds
from releases.planning.forms import BulkChangeForm
from releases.planning.selectors.release_page import ReleasePage
from releases.planning.selectors.what_if import plan_effect
from releases.planning.services import bulk
from releases.planning.services.freezes import OVERRIDE_PERMISSION

TEMPLATE = "releases/release_bulk.html"


@require_POST
@permission_required(ReleasePage.EDIT_PERMISSION, raise_exception=True)
def release_bulk(request):
    form = BulkChangeForm(request.POST)
    back = _back_to_list(request.POST.get("back", ""))
    if not form.is_valid():
        return render(request, TEMPLATE, {"form": form, "back": back}, status=400)
    releases, change = list(form.cleaned_data["release"]), form.change()
    if form.cleaned_data["confirm"]:
        reason, by = form.cleaned_data["override_reason"], request.user
        try:
            changed = bulk.releases_bulk_change(
                releases=releases, change=change, by=by, override_reason=reason
            )
        except ValidationError as refusal:
            form_add_errors(form, refusal)
        else:
            plural = "s" if changed != 1 else ""
            messages.success(request, f"Done: {change}. {changed} release{plural} changed.")
            return redirect(back)
    context = _preview_context(request, form, releases, change) | {"back": back}
    return render(request, TEMPLATE, context, status=409 if form.errors else 200)


def _preview_context(request, form, releases, change: bulk.BulkChange) -> dict:
    rows = bulk.bulk_preview(releases, change)
    may_override = request.user.has_perm(OVERRIDE_PERMISSION)
    # What would be confirmed: the releases not refused, and frozen ones only for those who may lift it.
    going = [row for row in rows if not row.refusal and (row.frozen is None or may_override)]
    edits = {row.release.pk: _forecast_edit(row.after) for row in going if not row.unchanged}
    edits = {rid: fields for rid, fields in edits.items() if fields}
    effect = plan_effect(edits, today=timezone.localdate()) if edits else []
    return {
        "form": form,
        "change": change,
        "rows": rows,
        "going": {row.release.pk for row in going},
        "changing": sum(1 for row in going if not row.unchanged),
        "frozen": [row for row in going if row.frozen is not None],
        "may_override": may_override,
        "effect": effect,
        "forecast_moves": bool(edits),
        "odds_rule": odds.RULE,
    }


def _forecast_edit(after: dict) -> dict:
    """The release's new facts as the forecast reads them: a target or a status (a train moves none)."""
    fields = {}
    if "target_date" in after:
        fields["target"] = after["target_date"]
    if "status" in after:
        fields["status"] = after["status"]
    return fields


def _back_to_list(path: str) -> str:
    """The list the change started from, with its filters; only ever the release list."""
    list_url = reverse("releases:list")
    return path if path.startswith(list_url) and path.isprintable() else list_url
