"""The audit trail's filters. A value that is malformed, names nothing, or lies outside the days the
portal knows (1900-2999) is dropped and named in a notice (releases/lists.py), never a 500."""

from datetime import date

import django_filters
from django import forms
from django.contrib.auth import get_user_model
from django.core.validators import MaxValueValidator, MinValueValidator

from releases.models import AuditEvent, Portfolio, Release

TEXT = 200
MAX_ID = 2**63 - 1


class IdChoiceField(forms.ModelChoiceField):
    """A row chosen by id; anything but ASCII digits within 64 bits is refused before the query (SQLite
    raises OverflowError on a larger number)."""

    def to_python(self, value):
        text = str(value).strip() if value is not None else ""
        if text and not (text.isascii() and text.isdigit() and int(text) <= MAX_ID):
            raise forms.ValidationError(self.error_messages["invalid_choice"], code="invalid_choice")
        return super().to_python(text)


class IdChoiceFilter(django_filters.ModelChoiceFilter):
    field_class = IdChoiceField


DAYS = [MinValueValidator(date(1900, 1, 1)), MaxValueValidator(date(2999, 12, 31))]


class AuditEventFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="filter_text", label="Search", max_length=TEXT)
    actor = IdChoiceFilter(
        queryset=get_user_model().objects.order_by("last_name", "first_name", "username"),
        label="Actor",
    )
    action = django_filters.CharFilter(method="filter_action", label="Action", max_length=64)
    object_type = django_filters.CharFilter(field_name="object_type", label="Object type", max_length=64)
    object_id = django_filters.CharFilter(field_name="object_id", label="Object id", max_length=64)
    # A release by id (a select of every release would be too long): the release page links here.
    release = IdChoiceFilter(
        queryset=Release.objects.all(), field_name="release", label="Release", widget=forms.TextInput
    )
    portfolio = IdChoiceFilter(
        queryset=Portfolio.objects.order_by("name"), method="filter_portfolio", label="Portfolio"
    )
    since = django_filters.DateFilter(
        field_name="created_at", lookup_expr="date__gte", label="From", validators=DAYS
    )
    until = django_filters.DateFilter(
        field_name="created_at", lookup_expr="date__lte", label="To", validators=DAYS
    )

    class Meta:
        model = AuditEvent
        fields = [
            "q",
            "actor",
            "action",
            "object_type",
            "object_id",
            "release",
            "portfolio",
            "since",
            "until",
        ]

    def filter_action(self, queryset, name, action):
        """An exact action ("gate.waive"), or every action of a kind with a trailing dot ("gate.")."""
        action = action.strip()
        if not action:
            return queryset
        if action.endswith("."):
            return queryset.filter(action__startswith=action)
        return queryset.filter(action=action)

    def filter_portfolio(self, queryset, name, portfolio):
        """A portfolio includes its programmes (child portfolios, at every level)."""
        return queryset.filter(portfolio__in=Portfolio.objects.subtree(portfolio.pk))

    def filter_text(self, queryset, name, text):
        text = text.strip()
        if not text:
            return queryset
        return queryset.filter(object_repr__icontains=text) | queryset.filter(actor_label__iexact=text)
