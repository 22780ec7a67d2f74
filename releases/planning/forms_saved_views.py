"""The forms of saved views: saving the current filters under a name, and renaming or sharing one.
They check the shape of the input; the service checks the rules (a free name, valid filters, groups the
owner may share with)."""

from django import forms
from django.contrib.auth.models import Group

from releases.models import SavedView
from releases.models.saved_view import NAME_MAX_LENGTH, QUERY_MAX_LENGTH


class SavedViewCreateForm(forms.Form):
    name = forms.CharField(max_length=NAME_MAX_LENGTH, label="Name this view")
    page = forms.ChoiceField(choices=SavedView.Page.choices, widget=forms.HiddenInput)
    # The page's filter query string; the service keeps only the filters. Twice the stored bound, since
    # the page's own parameters (period, sort, page) are dropped from it.
    query = forms.CharField(max_length=2 * QUERY_MAX_LENGTH, required=False, widget=forms.HiddenInput)


class SavedViewUpdateForm(forms.Form):
    name = forms.CharField(max_length=NAME_MAX_LENGTH, label="Name")
    shared_with = forms.ModelMultipleChoiceField(
        queryset=Group.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Shared with",
    )

    def __init__(self, *args, groups, **kwargs):
        """`groups`: the groups the owner may share with (a queryset)."""
        super().__init__(*args, **kwargs)
        self.fields["shared_with"].queryset = groups
