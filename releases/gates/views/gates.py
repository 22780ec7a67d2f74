"""The reviewer queue, one gate's panel, and its actions: sign (password re-entered, or a fresh sign-in at
the identity provider: releases/reauth.py) and waive.

An HTMX POST answers with the gate's panel and the "gatesChanged" event (the queue refreshes itself
on it); without HTMX a success redirects to the release page and a refusal renders the gate's page.
"""

from datetime import timedelta

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import trigger_client_event

from releases import lists, password_guesses, reauth
from releases.errors import form_add_errors
from releases.gates.forms import GateSignForm, GateWaiveForm
from releases.gates.selectors.gate_panel import gate_panel, gate_queue, gates_with_signoffs
from releases.gates.services import signoffs as signoff_services
from releases.models import Gate
from releases.planning.filters import GateQueueFilter, GateShow

QUEUE_TEMPLATE = "releases/gate_queue.html"
GATE_TEMPLATE = "releases/gate_detail.html"
SELECTS = {"show": None, "kind": "All kinds", "portfolio": "All portfolios"}
# "Waiting for me" lists the gates due within this many days (overdue ones included); ?later=1 lists all.
DUE_SOON_DAYS = 14


@require_GET
def gate_list(request):
    """The reviewer queue: the gates waiting for the user's sign-off unless ?show= says otherwise."""
    data = request.GET.copy()
    data.setdefault("show", GateShow.MINE)
    filterset = GateQueueFilter(data, queryset=gate_queue(request.user, data["show"]))
    today = timezone.localdate()
    rows, later, due_until = filterset.qs, None, None
    all_of_mine = data["show"] == GateShow.MINE and bool(request.GET.get("later"))
    if data["show"] == GateShow.MINE and not all_of_mine:
        # Due soon first: the rest (up to a year ahead) on demand, counted in one query.
        due_until = today + timedelta(days=DUE_SOON_DAYS)
        later = rows.filter(due_date__gt=due_until).count()
        rows = rows.filter(due_date__lte=due_until)
    page = lists.paginate(request, rows)
    show = filterset.form.fields["show"]
    show.choices, show.empty_label = GateShow.CHOICES, None  # no bare "---------": it defaults to "mine"
    context = {
        "filterset": filterset,
        "selects": lists.filter_selects(filterset, SELECTS),
        "page": page,
        "today": today,
        "later": later,
        "due_until": due_until,
        "all_of_mine": all_of_mine,
    }
    return lists.render_list(request, QUEUE_TEMPLATE, "gate-queue", context)


@require_GET
def gate_detail(request, pk: int):
    return _panel_response(request, pk)


@require_POST
def gate_sign(request, pk: int):
    gate = _gate(pk)
    by_provider = reauth.signs_with_provider(request.user)
    form = GateSignForm(request.POST, gate_id=pk, with_password=not by_provider)
    try:
        signoff_services.gate_sign_check(gate=gate, by=request.user)
        if not form.is_valid():
            return _panel_response(request, pk, status=422, sign_form=form)
        data = form.cleaned_data
        if not by_provider and not password_guesses.signing_allowed(request):
            form.add_error("password", password_guesses.SIGNING_PAUSED)
            return _panel_response(request, pk, status=429, sign_form=form)
        signoff_services.gate_sign(
            gate=gate,
            by=request.user,
            decision=data["decision"],
            meaning=signoff_services.signoff_meaning(gate, data["decision"]),
            comment=data["comment"],
            password=data.get("password"),
            # The provider sign-in granted for this gate (portal.sso), taken whatever happens next.
            reauthenticated_at=reauth.grant_take(request.session, gate_id=gate.pk) if by_provider else None,
            state_hash=data["state_hash"],
        )
    except signoff_services.SignOffRefused as refusal:
        return _refused(request, pk, refusal)
    except signoff_services.StaleReauthentication as stale:
        form.add_error(None, str(stale))
        return _panel_response(request, pk, status=403, sign_form=form)
    except signoff_services.BadPassword as wrong:
        tries_left = password_guesses.signing_failed(request)
        form.add_error("password", str(wrong))
        form.add_error("password", tries_left)
        return _panel_response(request, pk, status=422, sign_form=form)
    except ValidationError as error:
        form_add_errors(form, error)
        return _panel_response(request, pk, status=422, sign_form=form)
    verb = "approved" if data["decision"] == "approve" else "rejected"
    return _done(request, gate, f"You {verb} the {gate.name} gate; your signature is stored.")


@require_POST
def gate_waive(request, pk: int):
    gate = _gate(pk)
    form = GateWaiveForm(request.POST, gate_id=pk)
    try:
        signoff_services.gate_waive_check(gate=gate, by=request.user)
        if not form.is_valid():
            return _panel_response(request, pk, status=422, waive_form=form)
        signoff_services.gate_waive(gate=gate, by=request.user, reason=form.cleaned_data["reason"])
    except signoff_services.SignOffRefused as refusal:
        return _refused(request, pk, refusal)
    except ValidationError as error:
        form_add_errors(form, error)
        return _panel_response(request, pk, status=422, waive_form=form)
    return _done(request, gate, f"The {gate.name} gate is waived; the waiver is shown with it from now on.")


def _gate(pk: int) -> Gate:
    return get_object_or_404(gates_with_signoffs().select_related("release__application"), pk=pk)


def _refused(request, pk: int, refusal: signoff_services.SignOffRefused):
    return _panel_response(request, pk, status=refusal.status, refusal=refusal.reasons)


def _done(request, gate, words: str):
    if not request.htmx:
        messages.success(request, words)
        return redirect(reverse("releases:detail", args=[gate.release_id]) + f"#gate-{gate.pk}")
    response = _panel_response(request, gate.pk, done=words)
    return trigger_client_event(response, "gatesChanged")


def _panel_response(request, pk: int, *, status: int = 200, sign_form=None, waive_form=None, **shown):
    """The gate's panel as stored now: the partial for HTMX, the gate's page without it. A bound form
    is kept (typed comment, errors) while the user may still use it."""
    panel = gate_panel(pk, request.user)
    panel.expanded = True
    panel.reauth_ready = panel.signs_with_provider and reauth.grant_pending(request.session, gate_id=pk)
    if sign_form is not None and panel.sign_form is not None:
        panel.sign_form = sign_form
    if waive_form is not None and panel.waive_form is not None:
        panel.waive_form = waive_form
    for name, value in shown.items():
        setattr(panel, name, value)
    template = GATE_TEMPLATE + "#gate-card" if request.htmx else GATE_TEMPLATE
    return render(request, template, {"panel": panel, "release": panel.gate.release}, status=status)
