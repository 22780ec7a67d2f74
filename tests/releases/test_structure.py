"""The portfolio structure in the portal: admins create and edit portfolios and applications; release
managers create and edit trains in the portfolios they own (and their programmes), each write audited;
bad input is a form error that saves nothing."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from portal import roles
from releases.models import Application, AuditEvent, Portfolio, ReleaseTrain
from tests import factories as f

pytestmark = pytest.mark.django_db


def day(n: int):
    return timezone.localdate() + timedelta(days=n)


@pytest.fixture
def admin(client_for):
    return client_for(roles.ADMIN)


@pytest.fixture
def manager_user(user_in_role):
    return user_in_role(roles.RELEASE_MANAGER)


@pytest.fixture
def manager(manager_user):
    client = Client()
    client.force_login(manager_user)
    return client


def audited(action: str, obj) -> bool:
    return AuditEvent.objects.filter(action=action, object_id=str(obj.pk)).exists()


def test_an_admin_creates_a_portfolio_a_programme_inside_it_and_an_application(admin):
    response = admin.post("/releases/portfolios/new/", {"name": "Payments", "slug": "payments"})
    payments = Portfolio.objects.get(slug="payments")
    assert response.status_code == 302 and audited("portfolio.create", payments)
    admin.post("/releases/portfolios/new/", {"name": "Cards", "slug": "cards", "parent": payments.pk})
    assert Portfolio.objects.get(slug="cards").parent == payments
    response = admin.post(
        "/releases/applications/new/",
        {
            "portfolio": payments.pk,
            "key": "pay",
            "name": "Payments Hub",
            "criticality": "high",
            "release_cadence": "monthly",
        },
    )
    application = Application.objects.get(key="PAY")  # keys are upper case
    assert response.status_code == 302 and audited("application.create", application)
    page = admin.get("/releases/portfolios/").content.decode()
    assert (
        "Payments Hub" in page
        and "Cards" in page
        and f"/releases/applications/{application.pk}/edit/" in page
    )


def test_an_admin_edits_and_a_parent_loop_is_refused(admin):
    top = f.PortfolioFactory(name="Top", slug="top")
    inner = f.PortfolioFactory(name="Inner", slug="inner", parent=top)
    response = admin.post(
        f"/releases/portfolios/{top.pk}/edit/", {"name": "Top", "slug": "top", "parent": inner.pk}
    )
    assert response.status_code == 422 and "cannot sit inside itself" in response.content.decode()
    assert Portfolio.objects.get(pk=top.pk).parent is None
    response = admin.post(f"/releases/portfolios/{top.pk}/edit/", {"name": "Top level", "slug": "top"})
    assert response.status_code == 302 and Portfolio.objects.get(pk=top.pk).name == "Top level"
    assert audited("portfolio.update", top)
    application = f.ApplicationFactory(portfolio=top, key="OLD")
    data = {
        "portfolio": inner.pk,
        "key": "NEW",
        "name": "Renamed",
        "criticality": "low",
        "release_cadence": "weekly",
    }
    assert admin.post(f"/releases/applications/{application.pk}/edit/", data).status_code == 302
    application.refresh_from_db()
    assert (application.key, application.portfolio, application.name) == ("NEW", inner, "Renamed")
    assert audited("application.update", application)


@pytest.mark.parametrize(
    "data",
    [
        {"name": "", "slug": "x"},
        {"name": "X", "slug": "not a slug"},
        {"name": "X\x00", "slug": "x"},
        {"name": "X" * 1_000_000, "slug": "x"},
        {"name": "X", "slug": "taken"},
        {"name": "X", "slug": "x", "parent": "999999"},
    ],
)
def test_bad_portfolios_are_refused_with_their_reason(admin, data):
    f.PortfolioFactory(slug="taken")
    response = admin.post("/releases/portfolios/new/", data)
    assert response.status_code in (400, 422)
    assert Portfolio.objects.count() == 1


@pytest.mark.parametrize("key", ["P A Y", "PAY/1", "", "Ünï", "K" * 40])
def test_bad_application_keys_are_refused(admin, key):
    portfolio = f.PortfolioFactory()
    data = {
        "portfolio": portfolio.pk,
        "key": key,
        "name": "X",
        "criticality": "low",
        "release_cadence": "weekly",
    }
    assert admin.post("/releases/applications/new/", data).status_code == 422
    assert not Application.objects.exists()


def test_a_release_manager_plans_trains_in_the_portfolios_they_own_and_their_programmes(
    manager, manager_user
):
    own = f.PortfolioFactory(name="Payments")
    own.owners.add(manager_user)
    programme = f.PortfolioFactory(name="Cards", parent=own)
    other = f.PortfolioFactory(name="Retail")
    form_page = manager.get("/releases/trains/new/").content.decode()
    assert "Payments" in form_page and "Cards" in form_page and "Retail" not in form_page
    data = {"portfolio": programme.pk, "name": "PI 27.1", "starts_on": day(10), "last_day": day(23)}
    response = manager.post("/releases/trains/new/", data)
    train = ReleaseTrain.objects.get(name="PI 27.1")
    assert response.status_code == 302 and response["Location"] == f"/releases/trains/{train.pk}/"
    assert (train.starts_on, train.ends_on) == (day(10), day(24))  # the window ends the day after the last
    assert audited("releasetrain.create", train)
    refused = manager.post("/releases/trains/new/", data | {"portfolio": other.pk, "name": "PI 27.2"})
    assert refused.status_code == 422 and not ReleaseTrain.objects.filter(name="PI 27.2").exists()
    theirs = f.ReleaseTrainFactory(portfolio=other)
    assert manager.get(f"/releases/trains/{theirs.pk}/edit/").status_code == 403


def test_a_train_is_edited_and_a_window_ending_before_it_starts_is_refused(manager, manager_user):
    portfolio = f.PortfolioFactory()
    portfolio.owners.add(manager_user)
    train = f.ReleaseTrainFactory(portfolio=portfolio, starts_on=day(1), ends_on=day(15))
    page = manager.get(f"/releases/trains/{train.pk}/edit/").content.decode()
    assert f'value="{day(14).isoformat()}"' in page  # the last day, not the day after
    data = {"portfolio": portfolio.pk, "name": train.name, "starts_on": day(10), "last_day": day(5)}
    assert manager.post(f"/releases/trains/{train.pk}/edit/", data).status_code == 422
    data["last_day"] = day(30)
    assert manager.post(f"/releases/trains/{train.pk}/edit/", data).status_code == 302
    train.refresh_from_db()
    assert (train.starts_on, train.ends_on) == (day(10), day(31)) and audited("releasetrain.update", train)
    for bad in ["0001-01-01", "9999-12-31", "x"]:
        response = manager.post(f"/releases/trains/{train.pk}/edit/", data | {"starts_on": bad})
        assert response.status_code == 422, bad


def test_who_may_do_what(client_for, manager):
    portfolio = f.PortfolioFactory()
    office = client_for(roles.PROJECT_OFFICE)
    for url in [
        "/releases/portfolios/new/",
        f"/releases/portfolios/{portfolio.pk}/edit/",
        "/releases/applications/new/",
    ]:
        assert office.get(url).status_code == 403 and manager.get(url).status_code == 403
    assert office.get("/releases/trains/new/").status_code == 403
    assert office.get("/releases/portfolios/").status_code == 200  # everyone reads the structure
    assert Client().get("/releases/portfolios/").status_code == 302
    assert client_for(roles.ADMIN).get("/releases/portfolios/999999/edit/").status_code == 404


def test_the_structure_page_reads_the_same_queries_for_few_and_many_portfolios(admin):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert admin.get("/releases/portfolios/").status_code == 200
        return len(captured)

    top = f.PortfolioFactory()
    f.ApplicationFactory(portfolio=top)
    few = queries()
    for _ in range(6):
        programme = f.PortfolioFactory(parent=top)
        f.ApplicationFactory(portfolio=programme)
        f.ReleaseTrainFactory(portfolio=programme)
    assert queries() == few
