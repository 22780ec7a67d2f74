"""Importing releases from a spreadsheet: upload, a dry-run preview of every row and its problems, then
the import of all rows or none (releases.planning.services.imports), and the template to fill.

Between the preview and the confirm, the rows travel in the page as a signed payload
(django.core.signing, compressed), not in the session: the session is a database row read on every
request, and a sheet of thousands of rows would weigh on every page until cleared. The signature
(the SECRET_KEY, salted with the user's id) means a client can neither edit the rows nor send another
user's preview, and it lapses after PREVIEW_MAX_AGE. What it carries is still only the file's text:
the service checks it all again against the portal inside its transaction.
"""

import csv
import io

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core import signing
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from releases.errors import form_add_errors
from releases.planning import imports
from releases.planning.forms import ReleaseImportForm
from releases.planning.services import imports as import_services

TEMPLATE = "releases/release_import.html"
PERMISSION = "releases.add_release"
PREVIEW_MAX_AGE = 60 * 60  # seconds
EXPIRED = "The preview is more than an hour old or was altered: upload the file again."


@require_http_methods(["GET", "POST"])
@permission_required(PERMISSION, raise_exception=True)
def release_import_preview(request):
    """GET: the upload form. POST: the file read and checked, every row shown with its problems;
    nothing is written."""
    if request.method != "POST":
        return _page(request, ReleaseImportForm(), plan=None)
    form = ReleaseImportForm(request.POST, request.FILES)
    plan = None
    if form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            sheet = imports.read_sheet(name=upload.name, size=upload.size, chunks=upload.chunks())
        except imports.ImportFileError as error:
            form_add_errors(form, error)
        else:
            plan = imports.import_plan(sheet)
    return _page(request, form, plan=plan)


@require_POST
@permission_required(PERMISSION, raise_exception=True)
def release_import(request):
    """The confirm: the signed rows of a clean preview, imported all or nothing."""
    try:
        data = signing.loads(request.POST.get("payload", ""), salt=_salt(request), max_age=PREVIEW_MAX_AGE)
        sheet = imports.Sheet.from_payload(data)
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return _page(request, ReleaseImportForm(), plan=None, status=400, refused=EXPIRED)
    try:
        created = import_services.release_import(plan=imports.import_plan(sheet), by=request.user)
    except import_services.ImportRefused as refusal:
        return _page(request, ReleaseImportForm(), plan=refusal.plan, status=refusal.status)
    messages.success(request, f"Imported {len(created)} releases from {sheet.name}.")
    return redirect("releases:list")


@require_GET
@permission_required(PERMISSION, raise_exception=True)
def import_template_download(request, fmt: str):
    """The columns to fill, as CSV or XLSX."""
    if fmt == "csv":
        out = io.StringIO()
        csv.writer(out).writerow(imports.COLUMNS)
        response = HttpResponse(out.getvalue().encode("utf-8-sig"), content_type="text/csv; charset=utf-8")
    elif fmt == "xlsx":
        response = HttpResponse(
            imports.template_xlsx(),
            content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
    else:
        raise Http404("No template of that kind.")
    response["Content-Disposition"] = f'attachment; filename="release-import-template.{fmt}"'
    return response


def _salt(request) -> str:
    return f"flightdeck.release-import:{request.user.pk}"


def _page(request, form, *, plan, status: int | None = None, refused: str = ""):
    payload = ""
    if plan is not None and plan.clean:
        payload = signing.dumps(plan.sheet.payload(), salt=_salt(request), compress=True)
    if status is None:
        status = 422 if form.errors or (plan is not None and not plan.clean) else 200
    context = {"form": form, "plan": plan, "payload": payload, "columns": imports.COLUMNS, "refused": refused}
    context["preview_rows"] = _preview_rows(plan) if plan is not None else ""
    return render(request, TEMPLATE, context, status=status)


def _preview_rows(plan: imports.ImportPlan):
    """The preview table's rows, escaped, written here rather than in the template: a template loop over
    the largest file's rows and cells takes a third of a second to render, this a hundredth."""

    def cells(row: imports.PlannedRow):
        problems = format_html_join("", "<li>{}</li>", ((p,) for p in row.problems))
        return (
            mark_safe(' class="import-problem"') if row.problems else "",
            row.number,
            row.key,
            row.version,
            f"{row.target:%Y-%m-%d}" if row.target else row.target_text,
            f"{row.freeze:%Y-%m-%d}" if row.freeze else row.freeze_text,
            row.summary,
            row.train.name if row.train else row.train_name,
            "; ".join(row.depends_on),
            format_html("<ul>{}</ul>", problems)
            if row.problems
            else mark_safe('<span class="muted">None</span>'),
        )

    return format_html_join("\n", "<tr{}>" + "<td>{}</td>" * 9 + "</tr>", (cells(row) for row in plan.rows))
