"""Freeze windows as one rule: scope (releases.freezes.applies and its twin the query
FreezeWindow.objects.in_scope), occurrences of an RRULE, and "does it cover this instant or day"."""

from datetime import UTC, date, datetime, timedelta

import pytest

from releases.freezes import FreezeData, applies, covers, day_covered, frozen_days, occurrences
from releases.models import FreezeWindow
from tests import factories as f

pytestmark = pytest.mark.django_db


def test_covers_is_half_open():
    window = f.FreezeWindowFactory(starts_at=f.moment(0), ends_at=f.moment(2), rrule="FREQ=DAILY")
    assert covers(window, f.moment(24))
    assert covers(window, f.moment(25.9))
    assert not covers(window, f.moment(26))
    assert not covers(window, f.moment(-1))


def test_occurrences_overlap_the_period_and_last_as_long_as_the_first():
    weekly = FreezeData(starts_at=f.moment(0), ends_at=f.moment(5), rrule="FREQ=WEEKLY")
    week = timedelta(weeks=1)
    found = occurrences(weekly, start=f.moment(4), end=f.moment(0) + 2 * week)
    assert found == [(f.moment(0), f.moment(5)), (f.moment(0) + week, f.moment(5) + week)]
    assert occurrences(weekly, start=f.moment(5), end=f.moment(0) + week) == []  # touching is not overlapping
    one = FreezeData(starts_at=f.moment(0), ends_at=f.moment(5))
    assert occurrences(one, start=None, end=f.moment(1)) == [(f.moment(0), f.moment(5))]
    assert occurrences(one, start=f.moment(5), end=f.moment(9)) == []


def test_a_day_is_frozen_when_any_part_of_it_is():
    midnight = datetime(2030, 1, 8, tzinfo=UTC)
    across = FreezeData(starts_at=midnight - timedelta(hours=1), ends_at=midnight + timedelta(hours=1))
    days = frozen_days(across, start=None, end=midnight + timedelta(days=2))
    assert days == [(date(2030, 1, 7), date(2030, 1, 9))]
    assert day_covered(days, date(2030, 1, 8)) == days[0]
    assert day_covered(days, date(2030, 1, 9)) is None
    ends_at_midnight = FreezeData(starts_at=midnight - timedelta(days=1), ends_at=midnight)
    assert frozen_days(ends_at_midnight, start=None, end=midnight) == [(date(2030, 1, 7), date(2030, 1, 8))]


def test_scope_in_python_and_as_a_query_agree():
    top = f.PortfolioFactory()
    programme = f.PortfolioFactory(parent=top)
    prod, uat = f.EnvironmentFactory(name="prod"), f.EnvironmentFactory(name="uat")
    windows = [
        f.FreezeWindowFactory(),
        f.FreezeWindowFactory(for_portfolio=True, portfolio=top),
        f.FreezeWindowFactory(for_portfolio=True, portfolio=programme),
        f.FreezeWindowFactory(for_portfolio=True),
        f.FreezeWindowFactory(for_environment=True, environment=prod),
        f.FreezeWindowFactory(for_environment=True, environment=uat),
    ]
    for portfolio_ids, environment_ids in [
        ((), ()),
        ([programme.pk, top.pk], ()),
        ([top.pk], [prod.pk]),
        ((), [uat.pk, prod.pk]),
    ]:
        by_query = set(
            FreezeWindow.objects.in_scope(portfolio_ids=portfolio_ids, environment_ids=environment_ids)
        )
        by_python = {
            w for w in windows if applies(w, portfolio_ids=portfolio_ids, environment_ids=environment_ids)
        }
        assert by_query == by_python
    assert set(FreezeWindow.objects.in_scope(portfolio_ids=[top.pk])) == {windows[0], windows[1]}


def test_a_release_target_is_frozen_by_every_ancestors_freeze():
    from releases.planning.services.freezes import release_target_freeze

    top = f.PortfolioFactory()
    bottom = f.PortfolioFactory(parent=f.PortfolioFactory(parent=top))
    f.FreezeWindowFactory(
        for_portfolio=True, portfolio=top, starts_at=f.moment(0), ends_at=f.moment(48), reason="Top close"
    )
    release = f.ReleaseFactory(application__portfolio=bottom)
    frozen = release_target_freeze(release=release, target_date=f.moment(24).date())
    assert frozen is not None and frozen.freeze.reason == "Top close"
    assert release_target_freeze(release=release, target_date=f.moment(24 * 3).date()) is None
    assert isinstance(frozen.first, date)
