"""Portfolio ancestry, one rule: the parent walk (querysets.portfolio_lineage and its query twin
Portfolio.objects.lineage / subtree) never hangs, and a parent loop is refused by the model's
validation (every form, the admin's included) and by the service that sets a parent."""

import signal
from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.forms import modelform_factory
from django.utils import timezone

from portal import roles
from releases.models import AuditEvent, Portfolio
from releases.planning.services.portfolios import portfolio_set_parent, portfolio_update
from releases.querysets import portfolio_lineage, portfolio_subtree
from tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def chain():
    """Group > Retail > Cards."""
    top = f.PortfolioFactory(name="Group")
    middle = f.PortfolioFactory(name="Retail", parent=top)
    return top, middle, f.PortfolioFactory(name="Cards", parent=middle)


def test_lineage_and_subtree_in_python_and_as_queries(chain):
    top, middle, bottom = chain
    parents = Portfolio.objects.parents()
    assert portfolio_lineage(bottom.pk, parents) == [bottom.pk, middle.pk, top.pk]
    assert portfolio_subtree(top.pk, parents) == sorted([top.pk, middle.pk, bottom.pk])
    assert set(Portfolio.objects.lineage(bottom.pk)) == {top, middle, bottom}
    assert set(Portfolio.objects.subtree(middle.pk)) == {middle, bottom}
    assert set(Portfolio.objects.family(middle.pk)) == {top, middle, bottom}
    assert Portfolio.objects.lineage_ids(None) == []


@pytest.mark.parametrize("new_parent", ["itself", "its child", "its grandchild"])
def test_the_service_refuses_a_parent_loop(chain, new_parent):
    top, middle, bottom = chain
    parent = {"itself": top, "its child": middle, "its grandchild": bottom}[new_parent]
    with pytest.raises(ValidationError) as refused:
        portfolio_set_parent(portfolio=top, parent=parent, by=f.UserFactory())
    assert "parent" in refused.value.message_dict
    top.refresh_from_db()
    assert top.parent_id is None
    assert not AuditEvent.objects.filter(action="portfolio.update").exists()


def test_the_service_moves_a_portfolio_audited(chain, django_capture_on_commit_callbacks):
    top, middle, _ = chain
    other = f.PortfolioFactory(name="Insurance")
    admin = f.UserFactory()
    with django_capture_on_commit_callbacks() as callbacks:
        portfolio_update(portfolio=middle, by=admin, parent=other)
    middle.refresh_from_db()
    assert middle.parent_id == other.pk
    event = AuditEvent.objects.get(action="portfolio.update")
    assert (event.actor_id, event.before["parent_id"], event.after["parent_id"]) == (
        admin.pk,
        top.pk,
        other.pk,
    )
    assert len(callbacks) == 2  # its gates follow the new policy; the forecast its new freezes
    with pytest.raises(TypeError):
        portfolio_update(portfolio=middle, by=admin, owners=[])


def test_a_form_refuses_a_parent_loop(chain):
    """Portfolio.clean holds the rule, so every ModelForm (the admin's included) refuses a loop."""
    top, _, bottom = chain
    form_class = modelform_factory(Portfolio, fields=["name", "slug", "parent"])
    form = form_class({"name": top.name, "slug": top.slug, "parent": bottom.pk}, instance=top)
    assert not form.is_valid()
    assert "parent" in form.errors
    moved = form_class({"name": top.name, "slug": top.slug, "parent": f.PortfolioFactory().pk}, instance=top)
    assert moved.is_valid()


@contextmanager
def finishes_within(seconds: int):
    def hung(signum, frame):
        raise TimeoutError(f"still running after {seconds} s: a parent loop hangs it")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def plant_loop(a: Portfolio, b: Portfolio) -> None:
    """What validation refuses, written past it: a is b's parent and b is a's."""
    table = connection.ops.quote_name(Portfolio._meta.db_table)
    parent = connection.ops.quote_name(Portfolio._meta.get_field("parent").column)
    with connection.cursor() as cursor:
        for child, new_parent in ((a, b), (b, a)):
            cursor.execute(f"UPDATE {table} SET {parent} = %s WHERE id = %s", [new_parent.pk, child.pk])  # noqa: S608


def test_a_parent_loop_planted_in_sql_hangs_nothing(client_for):
    from releases.environments.services.bookings import freeze_hits
    from releases.gates.services.deploy_check import can_deploy
    from releases.gates.services.policies import effective_requirements_by_portfolio, policy_reach
    from releases.planning.services.forecasting import forecast_refresh
    from releases.planning.services.freezes import release_target_freeze

    a, b = f.PortfolioFactory(name="Alpha"), f.PortfolioFactory(name="Beta")
    release = f.ReleaseFactory(application__portfolio=a, target_date=timezone.localdate() + timedelta(days=5))
    f.GateFactory(release=release)
    f.FreezeWindowFactory(for_portfolio=True, portfolio=b, starts_at=timezone.now() + timedelta(days=4))
    prod = f.EnvironmentFactory(name="prod")
    plant_loop(a, b)
    a.refresh_from_db()
    with finishes_within(20):
        assert forecast_refresh() >= 1
        release.refresh_from_db()
        assert release.forecast_date is not None
        assert portfolio_lineage(a.pk, Portfolio.objects.parents()) == [a.pk, b.pk]
        assert set(Portfolio.objects.lineage(a.pk)) == set(Portfolio.objects.subtree(a.pk)) == {a, b}
        assert sorted(policy_reach(a.pk)) == sorted([a.pk, b.pk])
        effective_requirements_by_portfolio()
        release_target_freeze(release=release, target_date=release.target_date)
        now = timezone.now()
        freeze_hits(environments=[prod], portfolio_id=a.pk, starts_at=now, ends_at=now + timedelta(days=9))
        can_deploy(application_key=release.application.key, version=release.version, environment_name="prod")
        with pytest.raises(ValidationError):
            a.full_clean()  # the loop it is in is refused as it stands
        client = client_for(roles.ADMIN)
        for url in (
            f"/calendar/?portfolio={a.pk}",
            f"/releases/?portfolio={a.pk}",
            f"/gates/?show=pending&portfolio={a.pk}",
            "/gates/policies/",
            f"/gates/policies/{a.pk}/",
            f"/releases/{release.pk}/",
        ):
            assert client.get(url).status_code == 200, url
