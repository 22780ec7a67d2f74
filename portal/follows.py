"""Following portfolios and applications: Home's "Needs attention" covers what a person follows
(a portfolio with its programmes), or everything when they follow nothing.

Following is a personal view setting, not a governance fact: it is validated (the portfolio or
application must exist, else 404) and idempotent (following twice keeps one row, unfollowing what is
not followed changes nothing), and not written to the audit trail.
"""

from django.db import IntegrityError, transaction
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST
from django_htmx.http import trigger_client_event

from portal.models import Follow
from releases import params
from releases.errors import DomainError
from releases.models import Application, Portfolio

SUBJECTS = {"portfolio": Portfolio, "application": Application}


def _subject(kind: str, pk: int):
    model = SUBJECTS.get(kind)
    if model is None:
        raise Http404("One follows a portfolio or an application.")
    return get_object_or_404(model, pk=pk)


def follow_add(*, user, subject) -> Follow:
    """Follow a portfolio or an application; following it again changes nothing."""
    field = "portfolio" if isinstance(subject, Portfolio) else "application"
    try:
        with transaction.atomic():
            follow, _ = Follow.objects.get_or_create(user=user, **{field: subject})
    except IntegrityError:  # the same person following in two tabs at once
        follow = Follow.objects.get(user=user, **{field: subject})
    return follow


def follow_remove(*, user, subject) -> int:
    """Stop following; returns how many rows went (0 when it was not followed)."""
    field = "portfolio" if isinstance(subject, Portfolio) else "application"
    return Follow.objects.filter(user=user, **{field: subject}).delete()[0]


def follow_context(user) -> dict:
    """What the person follows and what they might follow, for the home page's panel: three queries."""
    follows = list(Follow.objects.filter(user=user).select_related("portfolio", "application"))
    followed_portfolios = {f.portfolio_id for f in follows if f.portfolio_id}
    followed_applications = {f.application_id for f in follows if f.application_id}
    return {
        "followed": [f.portfolio or f.application for f in follows],
        "follow_portfolios": [
            p for p in Portfolio.objects.order_by("name") if p.pk not in followed_portfolios
        ],
        "follow_applications": [
            a for a in Application.objects.order_by("name") if a.pk not in followed_applications
        ],
    }


def _answer(request):
    if request.htmx:  # the panel, and "Needs attention" refreshes itself on the event
        response = render(request, "portal/home.html#follow-panel", follow_context(request.user))
        return trigger_client_event(response, "followsChanged")
    return redirect("home")


@require_POST
def follow_create(request, kind: str):
    """Follow the portfolio or application posted as `id` (a select on the home page): a malformed or
    missing id is a 400, an unknown one (or an unknown kind) a 404."""
    pk = params.object_id(request.POST.get("id"), name=kind if kind in SUBJECTS else "id")
    if pk is None:
        raise DomainError(f"Choose the {kind} to follow.", field="id")
    follow_add(user=request.user, subject=_subject(kind, pk))
    return _answer(request)


@require_POST
def follow_delete(request, kind: str, pk: int):
    follow_remove(user=request.user, subject=_subject(kind, pk))
    return _answer(request)
