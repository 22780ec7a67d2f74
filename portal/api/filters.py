"""The API's filter sets: the pages' own where a page filters the same rows (releases, the reviewer
queue, the audit trail), and small ones for the rows no page lists with filters."""

import django_filters
from django.db.models import Q
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from integrations.models import SyncRun
from releases.gates.filters import AuditEventFilter
from releases.models import (
    Booking,
    Build,
    Deployment,
    Environment,
    Gate,
    Portfolio,
    ReleaseDependency,
    TestRun,
    WorkItem,
)
from releases.planning import filters as planning_filters

__all__ = ["AuditEventFilter"]


@extend_schema_field(OpenApiTypes.INT)
class PortfolioIdFilter(django_filters.ModelChoiceFilter):
    """A portfolio by id, including its programmes (the pages' filter_portfolio): typed for the schema."""


class ReleaseFilter(planning_filters.ReleaseFilter):
    """The release list's filters."""

    portfolio = PortfolioIdFilter(queryset=Portfolio.objects.all(), method="filter_portfolio")


class GateFilter(planning_filters.GateQueueFilter):
    """The reviewer queue's filters (show, kind, portfolio, overdue), and a release's gates."""

    portfolio = PortfolioIdFilter(queryset=Portfolio.objects.all(), method="filter_portfolio")
    release = django_filters.NumberFilter(field_name="release")
    status = django_filters.MultipleChoiceFilter(choices=Gate.Status.choices, distinct=False)

    class Meta(planning_filters.GateQueueFilter.Meta):
        fields = [*planning_filters.GateQueueFilter.Meta.fields, "release", "status"]


class EnvironmentFilter(django_filters.FilterSet):
    class Meta:
        model = Environment
        fields = ["kind", "bookable"]


class BookingFilter(django_filters.FilterSet):
    since = django_filters.IsoDateTimeFilter(field_name="ends_at", lookup_expr="gt", label="Ends after")
    until = django_filters.IsoDateTimeFilter(field_name="starts_at", lookup_expr="lt", label="Starts before")

    class Meta:
        model = Booking
        fields = ["environment", "application", "release", "status", "since", "until"]


class DeploymentFilter(django_filters.FilterSet):
    class Meta:
        model = Deployment
        fields = ["environment", "application", "release", "version", "status"]


class WorkItemFilter(django_filters.FilterSet):
    fix_release = django_filters.NumberFilter(field_name="fix_releases", label="Fix release")

    class Meta:
        model = WorkItem
        fields = ["application", "key", "type", "status_category", "descoped", "fix_release"]


class BuildFilter(django_filters.FilterSet):
    class Meta:
        model = Build
        fields = ["application", "release", "job", "result"]


class TestRunFilter(django_filters.FilterSet):
    class Meta:
        model = TestRun
        fields = ["release", "build", "environment"]


class SyncRunFilter(django_filters.FilterSet):
    class Meta:
        model = SyncRun
        fields = ["connection", "status"]


class DependencyFilter(django_filters.FilterSet):
    """Dependencies by either end: ?release= is a release's upstream and downstream links."""

    release = django_filters.NumberFilter(method="filter_release", label="Release (either end)")

    class Meta:
        model = ReleaseDependency
        fields = ["downstream", "upstream", "kind", "release"]

    def filter_release(self, queryset, name, release_id):
        return queryset.filter(Q(downstream=release_id) | Q(upstream=release_id))
