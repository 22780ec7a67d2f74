"""`any_of`: the same rows as `__in`, with one parameter and the same statement text for any length."""

import pytest
from django.db import connection

from releases.models import WorkItem
from tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def items():
    app = f.ApplicationFactory()
    return [f.WorkItemFactory(application=app, key=f"APP-{n}", external_id=str(n)) for n in range(1, 6)]


def test_any_of_matches_what_in_matches_for_text_ids_and_relations(items):
    wanted = ["2", "4", "99"]
    assert set(WorkItem.objects.filter(external_id__any_of=wanted)) == set(
        WorkItem.objects.filter(external_id__in=wanted)
    )
    pks = [items[0].pk, items[2].pk]
    assert set(WorkItem.objects.filter(pk__any_of=pks)) == {items[0], items[2]}
    assert WorkItem.objects.filter(application_id__any_of=[items[0].application_id]).count() == 5


def test_any_of_an_empty_list_matches_nothing(items):
    assert not WorkItem.objects.filter(external_id__any_of=[]).exists()


def test_any_of_keeps_quotes_and_markup_as_values(items):
    WorkItem.objects.filter(pk=items[0].pk).update(external_id='it\'s "<b>"')
    assert list(WorkItem.objects.filter(external_id__any_of=['it\'s "<b>"'])) == [items[0]]


def test_the_statement_is_the_same_whatever_the_list_length(items):
    sent = []

    def capture(execute, sql, params, many, context):
        sent.append((sql, len(params)))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(capture):
        assert WorkItem.objects.filter(external_id__any_of=["1"]).count() == 1
        assert WorkItem.objects.filter(external_id__any_of=[str(n) for n in range(2000)]).count() == 5
    (short, short_params), (long, long_params) = sent
    assert short == long
    assert short_params == long_params == 1
