"""The forecast algorithm on plain data: chains, diamonds, freezes, gates, scope, cycles."""

from datetime import date, timedelta

import pytest

from releases.planning.forecast import (
    SHIPS_WITH,
    BuildFact,
    DependencyCycle,
    DependencyState,
    ForecastState,
    GateFact,
    ReleaseFacts,
    Upstream,
    critical_path,
    delivery_state,
    forecast_all,
    would_create_cycle,
)

TODAY = date(2026, 11, 23)


def day(offset: int) -> date:
    return TODAY + timedelta(days=offset)


def up(*ids: int, kind: str = "ships_before") -> tuple[Upstream, ...]:
    return tuple(Upstream(i, kind) for i in ids)


def test_release_with_nothing_holding_it_ships_on_target():
    result = forecast_all([ReleaseFacts(1, target=day(10))], today=TODAY)
    assert result[1].ship_date == day(10)
    assert result[1].slip_days == 0
    assert result[1].driver.kind == "target"
    assert not result[1].at_risk


def test_missed_target_slips_to_today():
    result = forecast_all([ReleaseFacts(1, target=day(-3), status="in_progress")], today=TODAY)
    assert result[1].ship_date == TODAY
    assert result[1].slip_days == 3
    assert result[1].driver.kind == "today"


def test_shipped_release_forecast_is_its_actual_date():
    result = forecast_all([ReleaseFacts(1, target=day(-10), status="released", actual=day(-8))], today=TODAY)
    assert result[1].ship_date == day(-8)
    assert result[1].slip_days == 2


def test_chain_propagates_transitively_with_the_critical_path():
    releases = [
        ReleaseFacts(1, target=day(20)),  # the slow backend
        ReleaseFacts(2, target=day(5), upstream=up(1)),
        ReleaseFacts(3, target=day(6), upstream=up(2)),
    ]
    result = forecast_all(releases, today=TODAY)
    assert result[2].ship_date == day(21), "ships_before: the day after upstream"
    assert result[3].ship_date == day(22)
    assert critical_path(result, 3) == [2, 1]
    assert result[3].driver.kind == "upstream"
    assert result[3].dependencies == {2: DependencyState.AT_RISK}
    assert result[3].waiting_for[0].release_id == 2


def test_ships_with_allows_the_same_day():
    releases = [
        ReleaseFacts(1, target=day(9)),
        ReleaseFacts(2, target=day(5), upstream=up(1, kind=SHIPS_WITH)),
    ]
    assert forecast_all(releases, today=TODAY)[2].ship_date == day(9)


def test_diamond_takes_the_latest_branch():
    releases = [
        ReleaseFacts(1, target=day(2)),
        ReleaseFacts(2, target=day(4), upstream=up(1)),
        ReleaseFacts(3, target=day(15), upstream=up(1)),
        ReleaseFacts(4, target=day(5), upstream=up(2, 3)),
    ]
    result = forecast_all(releases, today=TODAY)
    assert result[4].ship_date == day(16)
    assert critical_path(result, 4) == [3]
    assert result[4].dependencies == {2: DependencyState.PENDING, 3: DependencyState.AT_RISK}


def test_dependency_states():
    releases = [
        ReleaseFacts(1, target=day(-5), status="released", actual=day(-5)),
        ReleaseFacts(2, target=day(3), status="cancelled"),
        ReleaseFacts(3, target=day(10), upstream=up(1)),
        ReleaseFacts(4, target=day(10), upstream=up(2)),
    ]
    result = forecast_all(releases, today=TODAY)
    assert result[3].dependencies == {1: DependencyState.SATISFIED}
    assert result[4].dependencies == {2: DependencyState.BLOCKED}
    assert result[4].ship_date is None
    assert result[4].at_risk
    assert result[4].driver.kind == "blocked"


def test_freeze_window_moves_the_date_to_the_first_free_day():
    freezes = ((day(8), day(12)), (day(12), day(14)))  # two windows touching: both must be cleared
    result = forecast_all([ReleaseFacts(1, target=day(10), freezes=freezes)], today=TODAY)
    assert result[1].ship_date == day(14)
    assert result[1].driver.kind == "freeze"


def test_freeze_window_ending_on_target_does_not_hold_it():
    result = forecast_all([ReleaseFacts(1, target=day(10), freezes=((day(5), day(10)),))], today=TODAY)
    assert result[1].ship_date == day(10), "windows are half-open"


def test_open_gates_hold_the_release_overdue_ones_until_today():
    gates = forecast_all([ReleaseFacts(1, target=day(3), gates=(GateFact("CAB", day(6)),))], today=TODAY)
    assert gates[1].ship_date == day(6)
    assert gates[1].driver.kind == "gate"
    assert gates[1].driver.text == f"Gate “CAB” due {day(6).isoformat()}"
    overdue = forecast_all([ReleaseFacts(1, target=day(-1), gates=(GateFact("CAB", day(-4)),))], today=TODAY)
    assert overdue[1].ship_date == TODAY


def test_an_overdue_gate_is_waited_for_and_puts_the_release_at_risk_even_before_its_target():
    release = ReleaseFacts(1, target=day(20), gates=(GateFact("Security review", day(-2)),))
    result = forecast_all([release], today=TODAY)[1]
    assert result.ship_date == day(20)
    assert result.state is ForecastState.AT_RISK
    assert [h.text for h in result.waiting_for] == [
        f"Gate “Security review” overdue since {day(-2).isoformat()}"
    ]


def test_a_rejected_gate_blocks_the_release_and_names_it():
    gates = (GateFact("Security review", day(2), status="failed", rejected=True), GateFact("CAB", day(8)))
    result = forecast_all([ReleaseFacts(1, target=day(10), label="RPT 2026.12.0", gates=gates)], today=TODAY)[
        1
    ]
    assert result.state is ForecastState.BLOCKED
    assert result.ship_date is None
    assert result.blocked_reason == "Security review rejected"
    assert result.waiting_for[0].text == "Blocked: Security review rejected"
    assert result.at_risk, "the at-risk flag covers blocked releases"


def test_a_gate_its_evidence_failed_blocks_with_the_evidence_in_words():
    qa = GateFact(
        "QA regression", day(2), status="failed", evidence="40 of 42 tests passed (95.2%), 2 failed"
    )
    result = forecast_all([ReleaseFacts(1, target=day(10), gates=(qa,))], today=TODAY)[1]
    assert result.state is ForecastState.BLOCKED
    assert result.blocked_reason == "QA regression failed (40 of 42 tests passed (95.2%), 2 failed)"


@pytest.mark.parametrize(
    ("result", "blocked", "words"),
    [
        ("failure", True, "failed"),
        ("unstable", True, "unstable"),
        ("aborted", True, "aborted"),
        ("success", False, ""),
    ],
)
def test_the_latest_finished_build_blocks_unless_it_succeeded(result, blocked, words):
    build = BuildFact("web-pay", 412, result)
    forecast = forecast_all([ReleaseFacts(1, target=day(10), latest_build=build)], today=TODAY)[1]
    assert (forecast.state is ForecastState.BLOCKED) == blocked
    assert forecast.blocked_reason == (f"build web-pay #412 {words}" if blocked else "")


def test_downstream_of_a_blocked_release_is_blocked_and_names_the_root_cause():
    gates = (GateFact("Security review", day(2), status="failed", rejected=True),)
    releases = [
        ReleaseFacts(1, target=day(10), label="RPT 2026.12.0", gates=gates),
        ReleaseFacts(2, target=day(12), label="PAY 2.8.1", upstream=up(1)),
        ReleaseFacts(3, target=day(14), label="WEB 5.0", upstream=up(2, kind=SHIPS_WITH)),
    ]
    result = forecast_all(releases, today=TODAY)
    assert result[2].state is ForecastState.BLOCKED and result[2].ship_date is None
    assert result[2].dependencies == {1: DependencyState.BLOCKED}
    assert result[2].blocked_reason == "upstream RPT 2026.12.0 is blocked (Security review rejected)"
    assert (
        result[3].blocked_reason == "upstream PAY 2.8.1 is blocked (RPT 2026.12.0: Security review rejected)"
    )
    assert critical_path(result, 3) == [2, 1]


def test_waiting_for_names_the_upstream_release_and_the_freeze_window():
    releases = [
        ReleaseFacts(1, target=day(20), label="LED 4.1"),
        ReleaseFacts(
            2, target=day(5), label="PAY 2.8.1", upstream=up(1), freezes=((day(21), day(24), "Year end"),)
        ),
    ]
    result = forecast_all(releases, today=TODAY)[2]
    assert result.ship_date == day(24)
    assert [h.text for h in result.waiting_for] == [
        f"Freeze window “Year end” ({day(21).isoformat()} to {day(23).isoformat()})",
        "Waits for LED 4.1 to ship first",
    ]


def test_delivery_state_lets_a_closed_status_win_over_a_stale_stored_state():
    assert delivery_state("cancelled", "on_track") is ForecastState.CANCELLED
    assert delivery_state("released", "blocked") is ForecastState.SHIPPED
    assert delivery_state("planned", "blocked") is ForecastState.BLOCKED
    assert delivery_state("planned", "") is ForecastState.ON_TRACK


def test_scope_behind_finishes_at_recent_throughput():
    on_track = ReleaseFacts(1, target=day(30), remaining_items=10, items_per_day=1.0)
    behind = ReleaseFacts(2, target=day(5), remaining_items=25, items_per_day=2.0)
    stalled = ReleaseFacts(3, target=day(5), remaining_items=4, items_per_day=0.0)
    result = forecast_all([on_track, behind, stalled], today=TODAY)
    assert result[1].ship_date == day(30)
    assert result[2].ship_date == day(13), "25 items at 2 a day: 13 days, rounded up"
    assert result[2].driver.kind == "scope"
    assert result[3].driver.kind == "scope"
    assert "no recent throughput" in result[3].driver.detail


def test_cycle_is_refused_naming_it():
    releases = [
        ReleaseFacts(1, target=day(1), upstream=up(3)),
        ReleaseFacts(2, target=day(1), upstream=up(1)),
        ReleaseFacts(3, target=day(1), upstream=up(2)),
        ReleaseFacts(4, target=day(1)),
    ]
    with pytest.raises(DependencyCycle) as refused:
        forecast_all(releases, today=TODAY)
    cycle = refused.value.cycle
    assert cycle[0] == cycle[-1]
    assert set(cycle) == {1, 2, 3}


def test_would_create_cycle_names_the_loop():
    edges = [(2, 1), (3, 2)]  # 2 needs 1, 3 needs 2
    assert would_create_cycle(edges, downstream=1, upstream=3) == [1, 3, 2, 1]
    assert would_create_cycle(edges, downstream=4, upstream=3) is None
    assert would_create_cycle(edges, downstream=5, upstream=5) == [5, 5]


def test_upstream_outside_the_input_is_ignored():
    result = forecast_all([ReleaseFacts(1, target=day(4), upstream=up(99))], today=TODAY)
    assert result[1].ship_date == day(4)


def test_long_chains_are_computed_without_recursion():
    """200 chains of 100 releases. In each chain release k targets day k % 50 and needs release k - 1, so
    the second half of a chain is pushed by the first: release 150 of a chain waits for 149 (day 49)."""
    releases = [
        ReleaseFacts(i, target=day(i % 50), upstream=up(i - 1) if i % 100 else ()) for i in range(20_000)
    ]
    result = forecast_all(releases, today=TODAY)
    assert len(result) == 20_000
    assert result[149].ship_date == day(49)
    assert result[150].ship_date == day(50)
    assert result[199].ship_date == day(99)
    path = critical_path(result, 199)
    assert path[0] == 198
    assert path[-1] == 149, "149 ships on its own target; the chain that sets 199's date starts there"


def test_scope_hold_counts_work_items_in_words():
    one = forecast_all([ReleaseFacts(1, target=day(1), remaining_items=1, items_per_day=0.1)], today=TODAY)
    assert one[1].driver.detail == "1 work item open"
