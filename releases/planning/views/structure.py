"""The portfolio structure in the portal: portfolios and applications, which admins shape, and release
trains, which release managers plan in the portfolios they own (and those portfolios' programmes).
Each write goes through its service with its audit event: portfolios through their own (a parent loop
is refused), applications and trains through records.record_save."""

from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Prefetch
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from releases.errors import form_add_errors
from releases.models import Application, Portfolio, ReleaseTrain
from releases.planning.forms_structure import ApplicationForm, PortfolioForm, TrainForm
from releases.planning.services import portfolios as portfolio_services
from releases.querysets import portfolio_subtree
from releases.records import record_save

TEMPLATE = "releases/structure_form.html"
STRUCTURE_PERMISSION = "releases.change_portfolio"  # admins: every portfolio is theirs to plan in


@require_GET
def portfolio_list(request):
    """Every portfolio with its programmes' place in the tree, its owners and its applications: three
    queries whatever their number."""
    applications = Prefetch("applications", queryset=Application.objects.order_by("key"))
    portfolios = Portfolio.objects.prefetch_related("owners", applications)
    portfolios = portfolios.annotate(train_count=Count("trains"))
    by_id = {portfolio.pk: portfolio for portfolio in portfolios}
    context = {
        "portfolios": _as_tree(by_id),
        "may_shape": request.user.has_perm("releases.change_portfolio"),
        "may_add_application": request.user.has_perm("releases.add_application"),
    }
    return render(request, "releases/portfolio_list.html", context)


@require_http_methods(["GET", "POST"])
@permission_required("releases.add_portfolio", raise_exception=True)
def portfolio_new(request):
    def save(form):
        return portfolio_services.portfolio_create(by=request.user, **form.cleaned_data)

    return _form_page(request, PortfolioForm(request.POST or None), "New portfolio", save=save)


@require_http_methods(["GET", "POST"])
@permission_required("releases.change_portfolio", raise_exception=True)
def portfolio_edit(request, pk: int):
    portfolio = get_object_or_404(Portfolio, pk=pk)
    title = f"Edit {portfolio}"  # before the form puts the posted values on it
    form = PortfolioForm(request.POST or None, instance=portfolio)

    def save(form):
        # The service locks the row and reads it again: it takes the posted values, not the instance's.
        return portfolio_services.portfolio_update(portfolio=portfolio, by=request.user, **form.cleaned_data)

    return _form_page(request, form, title, save=save)


@require_http_methods(["GET", "POST"])
@permission_required("releases.add_application", raise_exception=True)
def application_new(request):
    form = ApplicationForm(request.POST or None, initial={"portfolio": request.GET.get("portfolio")})
    return _form_page(request, form, "New application")


@require_http_methods(["GET", "POST"])
@permission_required("releases.change_application", raise_exception=True)
def application_edit(request, pk: int):
    application = get_object_or_404(Application, pk=pk)
    form = ApplicationForm(request.POST or None, instance=application)
    return _form_page(request, form, f"Edit {application}")


@require_http_methods(["GET", "POST"])
@permission_required("releases.add_releasetrain", raise_exception=True)
def train_new(request):
    form = TrainForm(request.POST or None, portfolios=planning_portfolios(request.user))
    return _form_page(request, form, "New release train", done=_train_page)


@require_http_methods(["GET", "POST"])
@permission_required("releases.change_releasetrain", raise_exception=True)
def train_edit(request, pk: int):
    train = get_object_or_404(ReleaseTrain, pk=pk)
    portfolios = planning_portfolios(request.user)
    if not portfolios.filter(pk=train.portfolio_id).exists():
        raise PermissionDenied("This train is in a portfolio you do not plan.")
    form = TrainForm(request.POST or None, instance=train, portfolios=portfolios)
    return _form_page(request, form, f"Edit {train}", done=_train_page)


def planning_portfolios(user):
    """The portfolios a user plans trains in: every one for an admin, else those they own and their
    programmes."""
    if user.has_perm(STRUCTURE_PERMISSION):
        return Portfolio.objects.order_by("name")
    parents = Portfolio.objects.parents()
    owned = user.owned_portfolios.values_list("pk", flat=True)
    reach = {pk for top in owned for pk in portfolio_subtree(top, parents)}
    return Portfolio.objects.filter(pk__in=reach).order_by("name")


def _form_page(request, form, title: str, *, save=None, done=None):
    """GET: the empty or current form. POST: saved through `save` (records.record_save of the form's
    object when not given) and on to `done(saved)` (the structure page when not given), or the form
    again with what is wrong (422)."""
    if request.method == "POST" and form.is_valid():
        try:
            saved = save(form) if save else record_save(obj=form.instance, by=request.user)
        except ValidationError as refusal:
            form_add_errors(form, refusal)
        else:
            return redirect(done(saved) if done else reverse("releases:portfolios"))
    context = {"form": form, "title": title}
    return render(request, TEMPLATE, context, status=422 if form.errors else 200)


def _train_page(train) -> str:
    return reverse("releases:train", args=[train.pk])


def _as_tree(by_id: dict[int, Portfolio]) -> list[Portfolio]:
    """The portfolios top-down, each followed by its programmes, with its depth for the indent."""
    children: dict[int | None, list[Portfolio]] = {}
    for portfolio in by_id.values():
        parent = portfolio.parent_id if portfolio.parent_id in by_id else None
        children.setdefault(parent, []).append(portfolio)
    ordered, todo, seen = [], [(p, 0) for p in reversed(children.get(None, []))], set()
    while todo:
        portfolio, depth = todo.pop()
        if portfolio.pk in seen:
            continue
        seen.add(portfolio.pk)
        portfolio.depth = depth
        ordered.append(portfolio)
        todo += [(child, depth + 1) for child in reversed(children.get(portfolio.pk, []))]
    return ordered
