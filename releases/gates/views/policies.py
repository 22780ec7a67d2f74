"""The gate policy pages: every portfolio's effective gates, and one policy's requirements, where a
release manager adds, changes and removes them. A fixed number of queries whatever the data size."""

from dataclasses import dataclass
from functools import cached_property, wraps

from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from releases.errors import form_add_errors
from releases.gates.forms import CRITERIA_KINDS, GateRequirementForm, initial_of
from releases.gates.services import policies as policy_services
from releases.gates.services.evidence import percent
from releases.models import GatePolicy, GateRequirement, Portfolio, Release

EDIT_PERMISSIONS = (
    "releases.add_gatepolicy",
    "releases.add_gaterequirement",
    "releases.change_gaterequirement",
    "releases.delete_gaterequirement",
)
LIST_TEMPLATE = "releases/gate_policies.html"
TEMPLATE = "releases/gate_policy.html"


def criteria_words(requirement: GateRequirement) -> str:
    """The automatic criteria in words, e.g. "pass rate ≥ 95%, failed ≤ 0"."""
    criteria, words = requirement.criteria or {}, []
    if "min_pass_rate" in criteria:
        words.append(f"pass rate ≥ {percent(criteria['min_pass_rate'])}")
    if "max_failed" in criteria:
        words.append(f"failed ≤ {criteria['max_failed']}")
    if "max_open_blockers" in criteria:
        words.append(f"open work items ≤ {criteria['max_open_blockers']}")
    if "result" in criteria:
        words.append(f"build {criteria['result']}")
    words += [f"{key} {value}" for key, value in criteria.items() if key not in CRITERIA_KINDS]
    return ", ".join(words)


@dataclass(frozen=True)
class Row:
    """One effective requirement, where it comes from, and what it replaces."""

    requirement: GateRequirement
    origin: str  # "own", "global" or "parent"
    origin_name: str
    signer_group: Group | None
    replaces: str = ""  # the inherited policy whose requirement of the same kind and name it replaces

    @property
    def criteria(self) -> str:
        return criteria_words(self.requirement)


class Policies:
    """Every policy's layers, the portfolios and the groups, read once and shown per portfolio."""

    def __init__(self):
        self.portfolios = {p.pk: p for p in Portfolio.objects.order_by("name")}
        self.layers = policy_services.policy_layers({pk: p.parent_id for pk, p in self.portfolios.items()})
        self.groups = list(Group.objects.order_by("name"))

    def rows(self, pk: int | None) -> list[Row]:
        groups = {group.pk: group for group in self.groups}
        return [
            Row(
                layered.requirement,
                *self._origin(layered.requirement, pk),
                groups.get(layered.requirement.signer_group_id),
                self._replaces(layered, pk),
            )
            for layered in policy_services.overlay(pk, self.layers)
        ]

    def _replaces(self, layered: policy_services.Layered, pk: int | None) -> str:
        if layered.overrides is None:
            return ""
        return self._origin(layered.overrides, pk)[1] or "global"

    def _origin(self, requirement: GateRequirement, pk: int | None) -> tuple[str, str]:
        source = requirement.policy.portfolio_id
        if source == pk:
            return "own", ""
        if source is None:
            return "global", ""
        return "parent", self.portfolios[source].name

    def tree(self) -> list[tuple[Portfolio, int]]:
        """Portfolios with their depth, each followed by its programmes."""
        children: dict[int | None, list[Portfolio]] = {}
        for portfolio in self.portfolios.values():
            parent = portfolio.parent_id if portfolio.parent_id in self.portfolios else None
            children.setdefault(parent, []).append(portfolio)
        ordered, todo = [], [(p, 0) for p in reversed(children.get(None, []))]
        while todo:
            portfolio, depth = todo.pop()
            ordered.append((portfolio, depth))
            todo += [(child, depth + 1) for child in reversed(children.get(portfolio.pk, []))]
        return ordered


@require_GET
def gate_policy_list(request):
    policies = Policies()
    portfolios = [(portfolio, depth, policies.rows(portfolio.pk)) for portfolio, depth in policies.tree()]
    context = {
        "global_rows": policies.rows(None),
        "portfolios": portfolios,
        "can_edit": can_edit(request.user),
    }
    return render(request, LIST_TEMPLATE, context)


class PolicyPage:
    """One portfolio's policy (or the global one, portfolio None) and what it inherits."""

    def __init__(self, pk: int | None, user):
        self.policies = Policies()
        if pk is not None and pk not in self.policies.portfolios:
            raise Http404("No such portfolio.")
        self.pk, self.user = pk, user
        self.portfolio = self.policies.portfolios[pk] if pk is not None else None

    @property
    def policy(self) -> GatePolicy | None:
        return self.policies.layers.policies.get(self.pk)

    @cached_property
    def rows(self) -> list[Row]:
        return self.policies.rows(self.pk)

    @property
    def own_rows(self) -> list[Row]:
        return [row for row in self.rows if row.origin == "own"]

    @property
    def inherited_rows(self) -> list[Row]:
        return [row for row in self.rows if row.origin != "own"]

    @cached_property
    def ancestors(self) -> list[Portfolio]:
        return [
            self.policies.portfolios[pk]
            for pk in policy_services.lineage(self.pk, self.policies.layers.parents)[1:-1]
        ]

    @cached_property
    def open_releases(self) -> int:
        reach = policy_services.policy_reach(self.pk, self.policies.layers.parents)
        releases = Release.objects.open()
        return (releases if reach is None else releases.filter(application__portfolio_id__in=reach)).count()

    @cached_property
    def can_edit(self) -> bool:
        return can_edit(self.user)

    def form(self, data=None, **kwargs) -> GateRequirementForm:
        return GateRequirementForm(data, policy=self.policy, groups=self.policies.groups, **kwargs)

    def url(self) -> str:
        return policy_url(self.portfolio)

    def add_url(self) -> str:
        if self.portfolio is None:
            return reverse("gates:global-requirement-add")
        return reverse("gates:requirement-add", args=[self.portfolio.pk])


def can_edit(user) -> bool:
    return user.has_perms(EDIT_PERMISSIONS)


def policy_url(portfolio: Portfolio | None) -> str:
    return reverse("gates:policy", args=[portfolio.pk]) if portfolio else reverse("gates:global-policy")


def policy_editor(attempt: str):
    """Only release managers (and whoever holds their policy permissions) change policies; a refused
    attempt is recorded in the audit trail as `attempt`, then answered 403. The audit names the attempt
    itself, not the view, so renaming a view does not change what the trail calls it."""

    def decorator(view):
        @wraps(view)
        def check(request, *args, **kwargs):
            if not can_edit(request.user):
                policy_services.gate_policy_change_denied(by=request.user, attempt=attempt, target=kwargs)
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return check

    return decorator


@require_GET
def gate_policy_detail(request, pk: int | None = None):
    page = PolicyPage(pk, request.user)
    add_form = page.form(initial=_override_initial(request, page))
    return respond(request, page, add_form=add_form)


def _override_initial(request, page: PolicyPage) -> dict | None:
    """?override=<requirement id> fills the add form with an inherited requirement, to change it here."""
    wanted = request.GET.get("override", "")
    row = next((r for r in page.inherited_rows if str(r.requirement.pk) == wanted), None)
    return initial_of(row.requirement) if row else None


@require_POST
@policy_editor("requirement_add")
def gate_requirement_create(request, pk: int | None = None):
    page = PolicyPage(pk, request.user)
    form = page.form(request.POST)
    if form.is_valid():
        policy = page.policy or policy_services.gate_policy_create(portfolio=page.portfolio, by=request.user)
        try:
            policy_services.gate_requirement_save(policy=policy, by=request.user, **form.values())
        except ValidationError as error:
            form_add_errors(form, error)
    if form.errors:
        return respond(request, page, add_form=form, status=422)
    return _saved(request, page)


@require_POST
@policy_editor("requirement_edit")
def gate_requirement_update(request, pk: int):
    requirement = get_object_or_404(GateRequirement.objects.select_related("policy"), pk=pk)
    page = PolicyPage(requirement.policy.portfolio_id, request.user)
    form = page.form(request.POST, requirement=requirement)
    if form.is_valid():
        try:
            policy_services.gate_requirement_save(
                policy=requirement.policy, requirement=requirement, by=request.user, **form.values()
            )
        except ValidationError as error:
            form_add_errors(form, error)
    if form.errors:
        return respond(request, page, edit_form=form, status=422)
    return _saved(request, page)


@require_POST
@policy_editor("requirement_delete")
def gate_requirement_delete(request, pk: int):
    requirement = get_object_or_404(GateRequirement.objects.select_related("policy"), pk=pk)
    page = PolicyPage(requirement.policy.portfolio_id, request.user)
    policy_services.gate_requirement_delete(requirement=requirement, by=request.user)
    return _saved(request, page)


def _saved(request, page: PolicyPage):
    if not request.htmx:
        return redirect(page.url() + "?saved=1#policy-requirements")
    return respond(request, PolicyPage(page.pk, request.user), partial="policy-updated", saved=True)


def respond(
    request,
    page: PolicyPage,
    *,
    partial="policy-requirements",
    status=200,
    add_form=None,
    edit_form=None,
    saved=None,
):
    """The named partial for HTMX; the whole page without it."""
    template = f"{TEMPLATE}#{partial}" if request.htmx else TEMPLATE
    own = [
        (
            row,
            edit_form
            if edit_form and edit_form.requirement.pk == row.requirement.pk
            else page.form(requirement=row.requirement),
        )
        for row in page.own_rows
    ]
    context = {
        "page": page,
        "add_form": add_form or page.form(),
        "own": own,
        "saved": saved if saved is not None else request.GET.get("saved") == "1",
    }
    return render(request, template, context, status=status)
