"""The release filters shared by the calendar, the release list and the ICS feed.

An unknown or malformed value (a deleted portfolio, a typo in a bookmarked URL) is dropped from the
filter rather than emptying the page: views show `filterset.errors` as a notice.
"""

from datetime import timedelta

import django_filters
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from releases.models import Application, Gate, GateKind, Portfolio, Release, ReleaseTrain
from releases.querysets import delivery_state_q


class GateState:
    OPEN = "open"
    FAILED = "failed"
    OVERDUE = "overdue"
    CLEAR = "clear"
    CHOICES = [
        (OPEN, "Gates open"),
        (FAILED, "A gate failed"),
        (OVERDUE, "A gate overdue"),
        (CLEAR, "All gates passed or waived"),
    ]


class When:
    UPCOMING = "upcoming"
    PAST = "past"
    CHOICES = [(UPCOMING, "From this week on"), (PAST, "Before this week")]


def this_monday():
    today = timezone.localdate()
    return today - timedelta(days=today.weekday())


class ReleaseFilter(django_filters.FilterSet):
    portfolio = django_filters.ModelChoiceFilter(
        queryset=Portfolio.objects.all(), method="filter_portfolio", label="Portfolio"
    )
    application = django_filters.ModelChoiceFilter(queryset=Application.objects.all(), label="Application")
    train = django_filters.ModelChoiceFilter(queryset=ReleaseTrain.objects.all(), label="Release train")
    # One release has one status, so OR-ing statuses never duplicates rows: no DISTINCT needed.
    status = django_filters.MultipleChoiceFilter(
        choices=Release.Status.choices, label="Status", distinct=False
    )
    gate_state = django_filters.ChoiceFilter(
        choices=GateState.CHOICES, method="filter_gate_state", label="Gates"
    )
    at_risk = django_filters.BooleanFilter(
        field_name="at_risk", widget=django_filters.widgets.BooleanWidget(), label="At risk only"
    )
    state = django_filters.ChoiceFilter(
        choices=Release.DeliveryState.choices, method="filter_state", label="Delivery state"
    )
    q = django_filters.CharFilter(method="filter_text", label="Search")
    when = django_filters.ChoiceFilter(choices=When.CHOICES, method="filter_when", label="When")

    class Meta:
        model = Release
        fields = [
            "portfolio",
            "application",
            "train",
            "status",
            "gate_state",
            "at_risk",
            "state",
            "q",
            "when",
        ]

    def filter_portfolio(self, queryset, name, portfolio):
        """A portfolio includes its programmes (child portfolios, at every level)."""
        return queryset.filter(application__portfolio__in=Portfolio.objects.subtree(portfolio.pk))

    def filter_state(self, queryset, name, state):
        return queryset.filter(delivery_state_q(state))

    def filter_gate_state(self, queryset, name, state):
        gates = Gate.objects.filter(release=OuterRef("pk"))
        undecided = gates.filter(status__in=Gate.UNSETTLED_STATUSES)
        if state == GateState.OPEN:
            return queryset.filter(Exists(undecided))
        if state == GateState.FAILED:
            return queryset.filter(Exists(gates.filter(status=Gate.Status.FAILED)))
        if state == GateState.OVERDUE:
            return queryset.filter(Exists(undecided.filter(due_date__lt=timezone.localdate())))
        return queryset.filter(Exists(gates)).exclude(Exists(undecided))

    def filter_when(self, queryset, name, when):
        if when == When.UPCOMING:
            return queryset.filter(target_date__gte=this_monday())
        return queryset.filter(target_date__lt=this_monday())

    def filter_text(self, queryset, name, text):
        text = text.strip()
        if not text:
            return queryset
        return queryset.filter(
            Q(version__icontains=text)
            | Q(application__key__iexact=text)
            | Q(application__name__icontains=text)
            | Q(summary__icontains=text)
        )


class GateShow:
    MINE = "mine"
    PENDING = "pending"
    DECIDED = "decided"
    CHOICES = [(MINE, "Waiting for me"), (PENDING, "All pending"), (DECIDED, "Decided")]


class GateQueueFilter(django_filters.FilterSet):
    """The reviewer queue. `show` is applied by the view (it needs the user); the rest narrow it."""

    show = django_filters.ChoiceFilter(choices=GateShow.CHOICES, method="filter_nothing", label="Show")
    kind = django_filters.ChoiceFilter(choices=GateKind.choices, label="Kind")
    portfolio = django_filters.ModelChoiceFilter(
        queryset=Portfolio.objects.all(), method="filter_portfolio", label="Portfolio"
    )
    overdue = django_filters.BooleanFilter(
        method="filter_overdue", widget=django_filters.widgets.BooleanWidget(), label="Overdue only"
    )

    class Meta:
        model = Gate
        fields = ["show", "kind", "portfolio", "overdue"]

    def filter_nothing(self, queryset, name, value):
        return queryset

    def filter_portfolio(self, queryset, name, portfolio):
        return queryset.filter(release__application__portfolio__in=Portfolio.objects.subtree(portfolio.pk))

    def filter_overdue(self, queryset, name, overdue):
        if not overdue:
            return queryset
        return queryset.overdue(timezone.localdate())
