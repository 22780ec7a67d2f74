"""The gate policy pages: every portfolio's effective gates, and one policy's requirements, where a
release manager or governance officer proposes adding, changing and removing them, and a second
person approves the changes that weaken a policy. A fixed number of queries whatever the data size."""

from dataclasses import dataclass
from functools import cached_property, wraps

from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from releases.errors import form_add_errors
from releases.gates.forms import GateRequirementForm, PolicyChangeReasonForm, initial_of
from releases.gates.selectors import policy_changes as change_selectors
from releases.gates.selectors.policy_changes import criteria_words
from releases.gates.services import policies as policy_services
from releases.gates.services import policy_changes as policy_change_services
from releases.models import GatePolicy, GateRequirement, PolicyChange, Portfolio, Release

DECISIONS = ("approve", "reject", "withdraw")
LIST_TEMPLATE = "releases/gate_policies.html"
TEMPLATE = "releases/gate_policy.html"


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
        return criteria_words(self.requirement.criteria)


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
    group_names = {group.pk: group.name for group in policies.groups}
    pending = change_selectors.pending_changes()
    context = {
        "global_rows": policies.rows(None),
        "portfolios": portfolios,
        "can_edit": can_edit(request.user),
        "pending": change_selectors.change_rows(pending, user=request.user, group_names=group_names),
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

    @cached_property
    def group_names(self) -> dict[int, str]:
        return {group.pk: group.name for group in self.policies.groups}

    @cached_property
    def pending_changes(self) -> list[change_selectors.ChangeRow]:
        changes = change_selectors.pending_changes([self.policy.pk]) if self.policy else []
        return change_selectors.change_rows(changes, user=self.user, group_names=self.group_names)

    @cached_property
    def recent_changes(self) -> list[change_selectors.ChangeRow]:
        changes = change_selectors.recent_changes(self.policy.pk) if self.policy else []
        return change_selectors.change_rows(changes, user=self.user, group_names=self.group_names)

    @cached_property
    def waiting_requirement_ids(self) -> set[int]:
        return {row.change.requirement_id for row in self.pending_changes}

    def form(self, data=None, **kwargs) -> GateRequirementForm:
        return GateRequirementForm(data, policy=self.policy, groups=self.policies.groups, **kwargs)

    def url(self) -> str:
        return policy_url(self.portfolio)

    def add_url(self) -> str:
        if self.portfolio is None:
            return reverse("gates:global-requirement-add")
        return reverse("gates:requirement-add", args=[self.portfolio.pk])


def can_edit(user) -> bool:
    return policy_change_services.can_propose(user)


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
    return _propose(request, page, form, PolicyChange.Action.ADD, form_name="add_form")


@require_POST
@policy_editor("requirement_edit")
def gate_requirement_update(request, pk: int):
    requirement = get_object_or_404(GateRequirement.objects.select_related("policy"), pk=pk)
    page = PolicyPage(requirement.policy.portfolio_id, request.user)
    form = page.form(request.POST, requirement=requirement)
    return _propose(request, page, form, PolicyChange.Action.CHANGE, requirement, form_name="edit_form")


@require_POST
@policy_editor("requirement_delete")
def gate_requirement_delete(request, pk: int):
    requirement = get_object_or_404(GateRequirement.objects.select_related("policy"), pk=pk)
    page = PolicyPage(requirement.policy.portfolio_id, request.user)
    form = PolicyChangeReasonForm(request.POST, prefix=f"remove-{requirement.pk}")
    form.requirement_id = requirement.pk
    return _propose(request, page, form, PolicyChange.Action.REMOVE, requirement, form_name="remove_form")


def _propose(request, page: PolicyPage, form, action: str, requirement=None, *, form_name: str):
    """Propose the change the form holds; the page then says whether it took effect or waits."""
    change = None
    if form.is_valid():
        values = form.values() if action != PolicyChange.Action.REMOVE else None
        try:
            change = policy_change_services.policy_change_propose(
                portfolio=page.portfolio,
                by=request.user,
                action=action,
                requirement=requirement,
                values=values,
                reason=form.cleaned_data["reason"],
            )
        except ValidationError as error:
            form_add_errors(form, error)
    if form.errors:
        return respond(request, page, status=422, **{form_name: form})
    return _saved(request, page, change)


def _saved(request, page: PolicyPage, change: PolicyChange | None):
    outcome = "unchanged" if change is None else change.status
    if not request.htmx:
        return redirect(page.url() + f"?saved={outcome}#policy-requirements")
    return respond(request, PolicyPage(page.pk, request.user), partial="policy-updated", saved=outcome)


@require_POST
def policy_change_decide(request, pk: int, decision: str):
    """Approve, reject or withdraw a waiting change; the services check who may."""
    if decision not in DECISIONS:
        raise Http404("No such decision.")
    change = get_object_or_404(PolicyChange.objects.select_related("policy"), pk=pk)
    comment = request.POST.get("comment", "")
    if decision == "approve":
        policy_change_services.policy_change_approve(change=change, by=request.user, comment=comment)
    elif decision == "reject":
        policy_change_services.policy_change_reject(change=change, by=request.user, comment=comment)
    else:
        policy_change_services.policy_change_withdraw(change=change, by=request.user)
    portfolio = change.policy.portfolio_id
    url = reverse("gates:policy", args=[portfolio]) if portfolio else reverse("gates:global-policy")
    return redirect(f"{url}?decided={decision}#policy-changes")


def respond(
    request,
    page: PolicyPage,
    *,
    partial="policy-requirements",
    status=200,
    add_form=None,
    edit_form=None,
    remove_form=None,
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
        "remove_form": remove_form,
        "saved": saved if saved is not None else request.GET.get("saved", ""),
        "decided": request.GET.get("decided", ""),
    }
    return render(request, template, context, status=status)
