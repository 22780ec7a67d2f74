"""The database enforces what must never be false: every constraint refuses a raw write that breaks it
(and the error names that constraint), and valid rows at the edges are accepted."""

from contextlib import contextmanager
from datetime import time, timedelta
from functools import partial

import pytest
from django.apps import apps
from django.db import IntegrityError, connection, transaction
from django.db.models import UniqueConstraint
from django.utils import timezone

from integrations.models import Connection, SyncCursor, SyncRun, WebhookDelivery
from portal.models import ApiToken, Follow, SsoIdentity
from releases.audit import audit_record
from releases.models import (
    Application,
    AuditChainHead,
    AuditEvent,
    Booking,
    Environment,
    FreezeWindow,
    Gate,
    GatePolicy,
    GateRequirement,
    MetricsRollup,
    PolicyChange,
    Portfolio,
    PullRequest,
    Release,
    ReleaseDependency,
    SignOff,
)
from tests import factories as f

pytestmark = pytest.mark.django_db


def _declared(name: str):
    for model in apps.get_models():
        for constraint in model._meta.constraints:
            if constraint.name == name:
                return model, constraint
    raise LookupError(f"no model declares a constraint named {name!r}")


def _error_fragment(name: str) -> str:
    """What the database's error message says when constraint `name` refuses a write."""
    if connection.vendor != "sqlite":
        return name
    model, constraint = _declared(name)
    if isinstance(constraint, UniqueConstraint):
        if constraint.fields:
            table = model._meta.db_table
            return ", ".join(f"{table}.{model._meta.get_field(field).column}" for field in constraint.fields)
        return f"index '{name}'"
    return f"CHECK constraint failed: {name}"


# A bogus value may break a second constraint too; the database may name either.
ALSO_REFUSED_BY = {
    "freeze_scope_valid": ["freeze_scope_matches_target"],
    # A status outside the choices is not "pending", so it also lacks the decision time decided gates have.
    "gate_status_valid": ["gate_decided_at_iff_decided"],
    # A state outside the choices is not "open", so it also lacks the time closed ones have.
    "pullrequest_state_valid": ["pullrequest_closed_at_iff_not_open"],
}


@contextmanager
def refused(constraint: str):
    """The write inside must fail on `constraint`; the savepoint keeps the test's transaction usable."""
    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        yield
    names = [constraint, *ALSO_REFUSED_BY.get(constraint, [])]
    assert any(_error_fragment(name) in str(excinfo.value) for name in names), str(excinfo.value)


CASES = []


def case(constraint: str, label: str = ""):
    """Register `arrange`: it creates valid rows and returns the one write that breaks `constraint`."""

    def register(arrange):
        CASES.append(pytest.param(constraint, arrange, id=f"{constraint}-{label}" if label else constraint))
        return arrange

    return register


def _set(model, pk, **values):
    return lambda: model.objects.filter(pk=pk).update(**values)


# --- enums: every choices column refuses a value outside its choices --------------------------------

ENUM_COLUMNS = [
    ("application_criticality_valid", f.ApplicationFactory, "criticality"),
    ("application_cadence_valid", f.ApplicationFactory, "release_cadence"),
    ("release_status_valid", f.ReleaseFactory, "status"),
    ("release_forecast_state_valid", f.ReleaseFactory, "forecast_state"),
    ("dependency_kind_valid", f.ReleaseDependencyFactory, "kind"),
    ("requirement_kind_valid", f.GateRequirementFactory, "kind"),
    ("gate_kind_valid", f.GateFactory, "kind"),
    ("gate_status_valid", f.GateFactory, "status"),
    ("signoff_decision_valid", f.SignOffFactory, "decision"),
    ("policychange_action_valid", f.PolicyChangeFactory, "action"),
    ("policychange_status_valid", f.PolicyChangeFactory, "status"),
    ("environment_kind_valid", f.EnvironmentFactory, "kind"),
    ("booking_status_valid", partial(f.BookingFactory, approved=True), "status"),  # has a decider
    ("freeze_scope_valid", f.FreezeWindowFactory, "scope"),
    ("deployment_status_valid", f.DeploymentFactory, "status"),
    ("workitem_type_valid", f.WorkItemFactory, "type"),
    ("workitem_status_category_valid", f.WorkItemFactory, "status_category"),
    ("scopechange_kind_valid", f.ScopeChangeFactory, "kind"),
    ("build_result_valid", f.BuildFactory, "result"),
    ("pullrequest_state_valid", f.PullRequestFactory, "state"),
    ("connection_kind_valid", f.ConnectionFactory, "kind"),
    ("syncrun_status_valid", f.SyncRunFactory, "status"),
    ("notification_kind_valid", f.NotificationFactory, "kind"),
    ("notification_delivery_valid", f.NotificationFactory, "delivery"),
    ("notificationpreference_kind_valid", f.NotificationPreferenceFactory, "kind"),
    ("notificationpreference_delivery_valid", f.NotificationPreferenceFactory, "delivery"),
    ("chatwebhook_style_valid", f.ChatWebhookFactory, "style"),
    ("savedview_page_valid", f.SavedViewFactory, "page"),
]


def _enum_case(factory, field):
    def arrange():
        if factory is f.SignOffFactory:  # append-only: a trigger refuses any update, so insert it bogus
            return lambda: factory(**{field: "bogus"})
        row = factory()
        return _set(type(row), row.pk, **{field: "bogus"})

    return arrange


for _constraint, _factory, _field in ENUM_COLUMNS:
    case(_constraint, "bogus")(_enum_case(_factory, _field))


# --- portfolios, applications, trains ------------------------------------------------------------


@case("portfolio_not_its_own_parent")
def portfolio_own_parent():
    portfolio = f.PortfolioFactory()
    return _set(Portfolio, portfolio.pk, parent=portfolio.pk)


@case("train_unique_name_per_portfolio")
def train_same_name():
    train = f.ReleaseTrainFactory()
    return lambda: f.ReleaseTrainFactory(portfolio=train.portfolio, name=train.name)


@case("train_ends_after_start", "before")
def train_ends_before_start():
    train = f.ReleaseTrainFactory()
    return lambda: f.ReleaseTrainFactory(starts_on=train.ends_on, ends_on=train.starts_on)


@case("train_ends_after_start", "equal")
def train_empty_window():
    return lambda: f.ReleaseTrainFactory(starts_on=f.day(3), ends_on=f.day(3))


# --- releases and dependencies -------------------------------------------------------------------


@case("notificationpreference_one_per_kind")
def preference_twice():
    preference = f.NotificationPreferenceFactory()
    return lambda: f.NotificationPreferenceFactory(user=preference.user, kind=preference.kind)


@case("release_unique_version")
def release_same_version():
    release = f.ReleaseFactory()
    return lambda: f.ReleaseFactory(application=release.application, version=release.version)


@case("release_unique_external_id")
def release_same_external_id():
    f.ReleaseFactory(source="jira#1", external_id="10001")
    return lambda: f.ReleaseFactory(source="jira#1", external_id="10001")


@case("release_code_freeze_not_after_target")
def release_freeze_after_target():
    return lambda: f.ReleaseFactory(target_date=f.day(10), code_freeze_date=f.day(11))


@case("release_actual_date_iff_released", "released-without-date")
def release_released_without_date():
    return lambda: f.ReleaseFactory(status=Release.Status.RELEASED, actual_date=None)


@case("release_actual_date_iff_released", "date-but-not-released")
def release_date_but_planned():
    return lambda: f.ReleaseFactory(status=Release.Status.READY, actual_date=f.day(1))


@case("release_freeze_override_has_reason")
def release_override_without_reason():
    admin = f.UserFactory()
    return lambda: f.ReleaseFactory(freeze_override_by=admin, freeze_override_reason="")


@case("release_odds_are_a_share", "over-one")
def release_odds_over_one():
    return lambda: f.ReleaseFactory(forecast_on_time=1.2)


@case("release_odds_are_a_share", "negative")
def release_odds_negative():
    return lambda: f.ReleaseFactory(forecast_on_time=-0.1)


@case("release_risk_at_most_100")
def release_risk_over_100():
    return lambda: f.ReleaseFactory(forecast_risk=101)


@case("release_odds_percentiles_in_order")
def release_odds_out_of_order():
    return lambda: f.ReleaseFactory(
        forecast_p50=f.day(5), forecast_p85=f.day(4), forecast_p95=f.day(9), forecast_on_time=0.5
    )


@case("dependency_not_on_itself")
def dependency_on_itself():
    release = f.ReleaseFactory()
    return lambda: ReleaseDependency.objects.create(downstream=release, upstream=release)


@case("dependency_unique_pair")
def dependency_twice():
    link = f.ReleaseDependencyFactory()
    return lambda: ReleaseDependency.objects.create(
        downstream=link.downstream, upstream=link.upstream, kind=ReleaseDependency.Kind.SHIPS_WITH
    )


# --- gate policies, gates, sign-offs -------------------------------------------------------------


@case("gate_policy_one_per_portfolio", "second-global")
def second_global_policy():
    GatePolicy.objects.create(portfolio=None, name="Global")
    return lambda: GatePolicy.objects.create(portfolio=None, name="Another global")


@case("gate_policy_one_per_portfolio", "second-for-portfolio")
def second_policy_for_portfolio():
    policy = f.GatePolicyFactory()
    return lambda: f.GatePolicyFactory(portfolio=policy.portfolio)


@case("requirement_unique_per_policy")
def requirement_twice():
    requirement = f.GateRequirementFactory()
    return lambda: f.GateRequirementFactory(
        policy=requirement.policy, kind=requirement.kind, name=requirement.name
    )


@case("requirement_signed_gate_has_group")
def requirement_approvals_without_group():
    return lambda: f.GateRequirementFactory(approvals_required=2, signer_group=None)


@case("gate_unique_per_release")
def gate_twice():
    gate = f.GateFactory()
    return lambda: f.GateFactory(release=gate.release, kind=gate.kind, name=gate.name)


@case("gate_waiver_has_admin_and_reason", "no-admin")
def waiver_without_admin():
    gate = f.GateFactory()
    return _set(
        Gate, gate.pk, status=Gate.Status.WAIVED, decided_at=f.moment(2), waiver_reason="Accepted risk, SEC-1"
    )


@case("gate_waiver_has_admin_and_reason", "no-reason")
def waiver_without_reason():
    gate, admin = f.GateFactory(), f.UserFactory()
    return _set(
        Gate, gate.pk, status=Gate.Status.WAIVED, decided_at=f.moment(2), waived_by=admin, waiver_reason=""
    )


@case("policychange_second_person", "proposer-decides")
def policy_change_decided_by_its_proposer():
    change = f.PolicyChangeFactory()
    return _set(
        PolicyChange, change.pk, status="rejected", decided_by=change.proposed_by, decided_at=f.moment(3)
    )


@case("policychange_pending_undecided", "decided-but-pending")
def pending_policy_change_with_a_decider():
    change = f.PolicyChangeFactory()
    return _set(PolicyChange, change.pk, decided_by=f.UserFactory(), decided_at=f.moment(3))


@case("policychange_applied_has_time", "no-time")
def applied_policy_change_without_time():
    change = f.PolicyChangeFactory(needs_approval=False, weakens=[])
    return _set(PolicyChange, change.pk, status="applied")


@case("policychange_approved_by_second_person", "weakening-without-approver")
def weakening_in_effect_without_approver():
    change = f.PolicyChangeFactory()
    return _set(PolicyChange, change.pk, status="applied", effective_at=f.moment(3))


@case("policychange_weakening_has_reason", "no-reason")
def weakening_without_reason():
    change = f.PolicyChangeFactory()
    return _set(PolicyChange, change.pk, reason="")


@case("policychange_one_pending", "two-waiting")
def two_pending_changes_to_one_requirement():
    change = f.PolicyChangeFactory()
    return lambda: f.PolicyChangeFactory(requirement=change.requirement)


@case("gate_pass_rate_is_a_fraction", "above-one")
def pass_rate_above_one():
    gate = f.GateFactory()
    return _set(Gate, gate.pk, evidence_pass_rate=1.01)


@case("gate_pass_rate_is_a_fraction", "negative")
def pass_rate_negative():
    gate = f.GateFactory()
    return _set(Gate, gate.pk, evidence_pass_rate=-0.01)


@case("signoff_one_per_signer")
def signoff_twice():
    signoff = f.SignOffFactory()
    return lambda: f.SignOffFactory(gate=signoff.gate, signer=signoff.signer)


@case("signoff_reauthenticated")
def signoff_without_password():
    return lambda: f.SignOffFactory(reauthenticated=False)


@case("gate_decided_at_iff_decided", "passed-without-time")
def gate_passed_without_time():
    return lambda: f.GateFactory(status=Gate.Status.PASSED, decided_at=None)


@case("gate_decided_at_iff_decided", "pending-with-time")
def gate_pending_with_time():
    return lambda: f.GateFactory(status=Gate.Status.PENDING, decided_at=f.moment(1))


@case("signoff_reject_has_comment")
def reject_without_comment():
    return lambda: f.SignOffFactory(decision=SignOff.Decision.REJECT, comment="")


@case("signoff_has_meaning")
def signoff_without_meaning():
    return lambda: f.SignOffFactory(meaning="")


@case("signoff_state_hash_sha256", "uppercase")
def state_hash_uppercase():
    return lambda: f.SignOffFactory(state_hash="A" * 64)


@case("signoff_state_hash_sha256", "too-short")
def state_hash_short():
    return lambda: f.SignOffFactory(state_hash="a" * 63)


@case("signoff_state_hash_sha256", "not-hex")
def state_hash_not_hex():
    return lambda: f.SignOffFactory(state_hash="g" * 64)


# --- environments, bookings, freezes, deployments -----------------------------------------------


@case("environment_capacity_at_least_one")
def environment_no_capacity():
    environment = f.EnvironmentFactory()
    return _set(Environment, environment.pk, capacity=0)


@case("environment_work_ends_after_start")
def environment_work_ends_before_it_starts():
    environment = f.EnvironmentFactory()
    return _set(Environment, environment.pk, work_starts=time(18), work_ends=time(8))


@case("environment_work_days_valid")
def environment_no_work_days():
    environment = f.EnvironmentFactory()
    return _set(Environment, environment.pk, work_days=0)


@case("component_not_itself")
def component_itself():
    environment = f.EnvironmentFactory()
    return lambda: f.EnvironmentComponentFactory(composite=environment, component=environment)


@case("component_unique_pair")
def component_twice():
    link = f.EnvironmentComponentFactory()
    return lambda: f.EnvironmentComponentFactory(composite=link.composite, component=link.component)


@case("booking_ends_after_start", "before")
def booking_ends_before_start():
    return lambda: f.BookingFactory(starts_at=f.moment(10), ends_at=f.moment(9))


@case("booking_ends_after_start", "equal")
def booking_empty_interval():
    return lambda: f.BookingFactory(starts_at=f.moment(10), ends_at=f.moment(10))


@case("booking_for_release_or_application")
def booking_for_nothing():
    return lambda: f.BookingFactory(application=None, release=None)


@case("booking_decision_has_decider", "approved")
def approved_without_decider():
    booking = f.BookingFactory()
    return _set(Booking, booking.pk, status=Booking.Status.APPROVED)


@case("booking_decision_has_decider", "rejected")
def rejected_without_decider():
    return lambda: f.BookingFactory(status=Booking.Status.REJECTED, reason="No capacity")


@case("booking_freeze_override_has_reason")
def booking_override_without_reason():
    admin = f.UserFactory()
    return lambda: f.BookingFactory(freeze_override_by=admin, freeze_override_reason="")


@case("freeze_ends_after_start")
def freeze_ends_before_start():
    return lambda: f.FreezeWindowFactory(starts_at=f.moment(48), ends_at=f.moment(24))


@case("freeze_scope_matches_target", "global-with-portfolio")
def global_freeze_with_portfolio():
    portfolio = f.PortfolioFactory()
    return lambda: f.FreezeWindowFactory(scope=FreezeWindow.Scope.GLOBAL, portfolio=portfolio)


@case("freeze_scope_matches_target", "portfolio-without-portfolio")
def portfolio_freeze_without_portfolio():
    return lambda: f.FreezeWindowFactory(scope=FreezeWindow.Scope.PORTFOLIO)


@case("freeze_scope_matches_target", "environment-with-portfolio")
def environment_freeze_naming_portfolio():
    portfolio = f.PortfolioFactory()
    return lambda: f.FreezeWindowFactory(scope=FreezeWindow.Scope.ENVIRONMENT, portfolio=portfolio)


@case("deployment_unique_external_id")
def deployment_same_external_id():
    f.DeploymentFactory(source="jenkins#2", external_id="deploy-7")
    return lambda: f.DeploymentFactory(source="jenkins#2", external_id="deploy-7")


# --- work items, builds, test runs ---------------------------------------------------------------


@case("workitem_unique_key")
def workitem_same_key():
    item = f.WorkItemFactory()
    return lambda: f.WorkItemFactory(application=item.application, key=item.key)


@case("workitem_unique_external_id")
def workitem_same_external_id():
    f.WorkItemFactory(source="jira#1", external_id="10042")
    return lambda: f.WorkItemFactory(source="jira#1", external_id="10042")


@case("sourcealias_one_fact")
def source_alias_of_both_a_release_and_a_work_item():
    release = f.ReleaseFactory()
    return lambda: f.SourceAliasFactory(release=release)


@case("sourcealias_one_fact")
def source_alias_of_nothing():
    return lambda: f.SourceAliasFactory(work_item=None)


@case("sourcealias_keyed")
def source_alias_without_an_id():
    return lambda: f.SourceAliasFactory(external_id="")


@case("sourcealias_unique_release_id")
def source_alias_twice_for_a_release_id():
    f.SourceAliasFactory(release=f.ReleaseFactory(), work_item=None, external_id="10001")
    return lambda: f.SourceAliasFactory(release=f.ReleaseFactory(), work_item=None, external_id="10001")


@case("sourcealias_unique_work_item_id")
def source_alias_twice_for_a_work_item_id():
    f.SourceAliasFactory(external_id="10001")
    return lambda: f.SourceAliasFactory(external_id="10001")


@case("workitemlink_not_itself")
def workitem_blocks_itself():
    item = f.WorkItemFactory()
    return lambda: f.WorkItemLinkFactory(blocker=item, blocked=item)


@case("workitemlink_unique_pair")
def workitem_link_twice():
    link = f.WorkItemLinkFactory()
    return lambda: f.WorkItemLinkFactory(blocker=link.blocker, blocked=link.blocked)


@case("build_unique_number")
def build_same_number():
    build = f.BuildFactory()
    return lambda: f.BuildFactory(application=build.application, job=build.job, number=build.number)


@case("testrun_unique_external_id")
def run_same_external_id():
    f.TestRunFactory(source="jenkins#2", external_id="ci/41/junit")
    return lambda: f.TestRunFactory(source="jenkins#2", external_id="ci/41/junit")


@case("pullrequest_unique_external_id")
def pull_request_same_external_id():
    f.PullRequestFactory(source="github#3", external_id="acme/app#7")
    return lambda: f.PullRequestFactory(source="github#3", external_id="acme/app#7")


@case("pullrequest_merged_at_iff_merged", "merged-without-time")
def pull_request_merged_without_time():
    pull = f.PullRequestFactory()
    return _set(PullRequest, pull.pk, state="merged", closed_at=pull.created_at)


@case("pullrequest_merged_at_iff_merged", "open-with-merge-time")
def pull_request_open_with_merge_time():
    pull = f.PullRequestFactory()
    return _set(PullRequest, pull.pk, merged_at=pull.created_at)


@case("pullrequest_closed_at_iff_not_open", "open-with-close-time")
def pull_request_open_with_close_time():
    pull = f.PullRequestFactory()
    return _set(PullRequest, pull.pk, closed_at=pull.created_at)


@case("pullrequest_closed_at_iff_not_open", "closed-without-time")
def pull_request_closed_without_time():
    pull = f.PullRequestFactory()
    return _set(PullRequest, pull.pk, state="closed")


@case("pullrequest_updated_not_before_created")
def pull_request_updated_before_created():
    pull = f.PullRequestFactory()
    return _set(PullRequest, pull.pk, updated_at=pull.created_at - timedelta(seconds=1))


# --- audit trail ---------------------------------------------------------------------------------


@case("audit_head_singleton")
def second_chain_head():
    return lambda: AuditChainHead.objects.create(id=2, seq=0, hash="0" * 64)


@case("audit_chain_never_forks")
def audit_fork():
    first = audit_record(actor=None, action="test.first", object_type="test", object_id="1")
    # A forged event inserted past audit_record(), claiming the same predecessor as the first one.
    return lambda: AuditEvent.objects.create(
        seq=first.seq + 1,
        actor_label="mallory",
        action="test.forged",
        object_type="test",
        created_at=first.created_at,
        prev_hash=first.prev_hash,
        hash="f" * 64,
    )


# --- integrations --------------------------------------------------------------------------------


@case("connection_schedule_positive")
def connection_never_scheduled():
    connection_ = f.ConnectionFactory()
    return _set(Connection, connection_.pk, schedule_minutes=0)


@case("mapping_unique_key")
def mapping_twice():
    mapping = f.ApplicationMappingFactory()
    return lambda: f.ApplicationMappingFactory(
        connection=mapping.connection, external_key=mapping.external_key
    )


@case("cursor_unique_stream")
def cursor_twice():
    cursor = f.SyncCursorFactory()
    return lambda: SyncCursor.objects.create(connection=cursor.connection, stream=cursor.stream)


@case("webhookdelivery_unique_id")
def delivery_twice():
    delivery = f.WebhookDeliveryFactory()
    return lambda: WebhookDelivery.objects.create(
        connection=delivery.connection, delivery_id=delivery.delivery_id
    )


@case("syncrun_one_active", "queued-and-running")
def second_active_run():
    run = f.SyncRunFactory(status=SyncRun.Status.RUNNING, finished_at=None)
    return lambda: SyncRun.objects.create(connection=run.connection, status=SyncRun.Status.QUEUED)


@case("syncrun_one_active", "finished-run-restarted")
def finished_run_restarted():
    running = f.SyncRunFactory(status=SyncRun.Status.RUNNING, finished_at=None)
    done = f.SyncRunFactory(connection=running.connection)
    return _set(SyncRun, done.pk, status=SyncRun.Status.RUNNING)


@case("syncrun_finishes_after_start", "before-start")
def run_finishes_before_start():
    return lambda: f.SyncRunFactory(started_at=f.moment(2), finished_at=f.moment(1))


@case("syncrun_finishes_after_start", "never-started")
def run_finished_never_started():
    return lambda: f.SyncRunFactory(started_at=None, finished_at=f.moment(1))


# --- metrics ---------------------------------------------------------------------------------------


@case("outcome_failure_when_any_sign")
def outcome_rolled_back_yet_not_failed():
    return lambda: f.ProductionOutcomeFactory(rollback=True, failure=False)


@case("outcome_lead_not_negative")
def outcome_lead_before_first_work():
    return lambda: f.ProductionOutcomeFactory(lead_hours=-1.0)


@case("dailyfigure_known_within_count")
def more_known_than_counted():
    return lambda: f.DailyFigureFactory(count=1, known=2)


@case("metricsrollup_single_row")
def second_metrics_rollup():
    f.MetricsRollupFactory()
    return lambda: MetricsRollup.objects.create(pk=2)


@case("savedview_name_unique_per_owner")
def two_saved_views_of_one_owner_with_one_name():
    first = f.SavedViewFactory()
    return lambda: f.SavedViewFactory(owner=first.owner, name=first.name)


@case("savedview_has_name")
def saved_view_without_a_name():
    return lambda: f.SavedViewFactory(name="")


@case("savedview_query_bounded")
def saved_view_with_a_huge_query():
    return lambda: f.SavedViewFactory(query="q=" + "x" * 2000)


@case("savedview_feed_token_hash_sha256")
def saved_view_keeping_its_token_in_clear():
    return lambda: f.SavedViewFactory(feed_token_hash="plain-secret")


@case("releasenotes_published_by_whom")
def notes_published_by_nobody():
    return lambda: f.ReleaseNotesFactory(published_at=timezone.now(), published_by=None)


# --- portal ---------------------------------------------------------------------------------------


def _api_token(**fields):
    return ApiToken.objects.create(**{"user": f.UserFactory(), "name": "CI", "key_hash": "a" * 64} | fields)


@case("apitoken_has_name")
def api_token_without_name():
    return lambda: _api_token(name="")


@case("apitoken_key_hash_sha256")
def api_token_hash_not_sha256():
    return lambda: _api_token(key_hash="plain-secret")


def _follow(**fields):
    return Follow.objects.create(**{"user": f.UserFactory()} | fields)


@case("follow_one_subject")
def follow_both_a_portfolio_and_an_application():
    portfolio, application = f.PortfolioFactory(), f.ApplicationFactory()
    return lambda: _follow(portfolio=portfolio, application=application)


@case("follow_one_subject")
def follow_nothing():
    return lambda: _follow()


@case("follow_unique_portfolio")
def follow_a_portfolio_twice():
    first = _follow(portfolio=f.PortfolioFactory())
    return lambda: _follow(user=first.user, portfolio=first.portfolio)


@case("follow_unique_application")
def follow_an_application_twice():
    first = _follow(application=f.ApplicationFactory())
    return lambda: _follow(user=first.user, application=first.application)


@case("portal_ssoidentity_unique_subject")
def link_two_users_to_one_provider_subject():
    def link(user):
        return SsoIdentity.objects.create(
            user=user, issuer="https://idp.example.test", subject="sub-1", last_sign_in=f.moment(0)
        )

    link(f.UserFactory())
    return lambda: link(f.UserFactory())


@pytest.mark.parametrize(("constraint", "arrange"), CASES)
def test_database_refuses_a_write_that_breaks(constraint, arrange):
    write = arrange()
    with refused(constraint):
        write()


def test_every_declared_constraint_is_proven_above():
    declared = {
        constraint.name
        for app_label in ("portal", "releases", "integrations")
        for model in apps.get_app_config(app_label).get_models()
        for constraint in model._meta.constraints
    }
    proven = {param.values[0] for param in CASES}
    assert declared - proven == set(), "constraints with no test"
    assert proven - declared == set(), "tests of constraints that no longer exist"


@pytest.mark.parametrize("field", ["passed", "failed", "skipped", "errors", "duration_ms"])
def test_test_run_counts_are_never_negative(field):
    run = f.TestRunFactory()
    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        type(run).objects.filter(pk=run.pk).update(**{field: -1})
    assert field in str(excinfo.value)


@pytest.mark.parametrize("field", ["pages", "requests", "items_fetched", "items_created", "items_deleted"])
def test_sync_run_counts_are_never_negative(field):
    run = f.SyncRunFactory()
    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        SyncRun.objects.filter(pk=run.pk).update(**{field: -1})
    assert field in str(excinfo.value)


# --- valid rows are accepted ---------------------------------------------------------------------

ALL_FACTORIES = [
    f.SourceAliasFactory,
    f.UserFactory,
    f.GroupFactory,
    f.PortfolioFactory,
    f.ApplicationFactory,
    f.ReleaseTrainFactory,
    f.ReleaseFactory,
    f.ReleaseDependencyFactory,
    f.GatePolicyFactory,
    f.GateRequirementFactory,
    f.PolicyChangeFactory,
    f.GateFactory,
    f.SignOffFactory,
    f.EnvironmentFactory,
    f.EnvironmentComponentFactory,
    f.BookingFactory,
    f.FreezeWindowFactory,
    f.DeploymentFactory,
    f.WorkItemFactory,
    f.WorkItemLinkFactory,
    f.ScopeChangeFactory,
    f.BuildFactory,
    f.TestRunFactory,
    f.PullRequestFactory,
    f.WorkerHeartbeatFactory,
    f.ConnectionFactory,
    f.ApplicationMappingFactory,
    f.SyncCursorFactory,
    f.SyncRunFactory,
    f.WebhookDeliveryFactory,
    f.NotificationFactory,
    f.NotificationPreferenceFactory,
    f.ChatWebhookFactory,
    f.ProductionOutcomeFactory,
    f.DailyFigureFactory,
    f.SavedViewFactory,
    f.ReleaseNotesFactory,
]


@pytest.mark.parametrize("factory", ALL_FACTORIES, ids=lambda factory: factory.__name__)
def test_factories_make_valid_rows(factory):
    rows = [factory(), factory()]
    for row in rows:
        row.full_clean()  # also runs every model constraint in Python
    assert type(rows[0]).objects.filter(pk__in=[row.pk for row in rows]).count() == 2


def test_every_domain_model_has_a_factory():
    covered = {factory._meta.model for factory in ALL_FACTORIES}
    written_only_by_audit_record = {AuditEvent, AuditChainHead}
    one_row = {MetricsRollup}  # its factory gets the row: two calls cannot make two
    domain = {
        model
        for app_label in ("releases", "integrations")
        for model in apps.get_app_config(app_label).get_models()
        if not model._meta.auto_created
    }
    assert domain - covered - written_only_by_audit_record - one_row == set()
    assert f.MetricsRollupFactory() == f.MetricsRollupFactory()


def test_release_edges_are_accepted():
    same_day = f.ReleaseFactory(target_date=f.day(5), code_freeze_date=f.day(5))
    shipped = f.ReleaseFactory(released=True)
    overridden = f.ReleaseFactory(freeze_override_by=f.UserFactory(), freeze_override_reason="Hotfix, CAB-12")
    cancelled = f.ReleaseFactory(status=Release.Status.CANCELLED)
    f.ReleaseFactory(application=same_day.application, version="2.0.0")
    f.ReleaseDependencyFactory(downstream=shipped, upstream=same_day)
    f.ReleaseDependencyFactory(
        downstream=overridden, upstream=same_day, kind=ReleaseDependency.Kind.SHIPS_WITH
    )
    assert shipped.actual_date == shipped.target_date
    assert Release.objects.filter(pk__in=[same_day.pk, shipped.pk, overridden.pk, cancelled.pk]).count() == 4
    assert ReleaseDependency.objects.filter(upstream=same_day).count() == 2


def test_train_and_portfolio_edges_are_accepted():
    parent = f.PortfolioFactory()
    child = f.PortfolioFactory(parent=parent)
    f.ReleaseTrainFactory(portfolio=child, starts_on=f.day(0), ends_on=f.day(1))
    f.ReleaseTrainFactory(name="Same name, other portfolio", portfolio=parent)
    f.ReleaseTrainFactory(name="Same name, other portfolio", portfolio=child)
    assert list(parent.children.all()) == [child]
    assert child.trains.count() == 2


def test_one_global_policy_and_one_per_portfolio_coexist():
    GatePolicy.objects.create(portfolio=None, name="Global")
    first, second = f.PortfolioFactory(), f.PortfolioFactory()
    f.GatePolicyFactory(portfolio=first)
    f.GatePolicyFactory(portfolio=second)
    assert GatePolicy.objects.count() == 3


def test_gate_edges_are_accepted():
    f.GateRequirementFactory(approvals_required=0, signer_group=None, kind="qa")
    gate = f.GateFactory(evidence_pass_rate=0.0)
    f.GateFactory(evidence_pass_rate=1.0)
    f.GateFactory(evidence_pass_rate=None)
    f.GateFactory(
        status=Gate.Status.WAIVED,
        decided_at=f.moment(3),
        waived_by=f.UserFactory(),
        waiver_reason="Accepted risk, SEC-9",
    )
    f.SignOffFactory(gate=gate)
    f.SignOffFactory(gate=gate, decision=SignOff.Decision.REJECT, comment="Pen test findings still open")
    assert GateRequirement.objects.filter(signer_group=None).exists()
    assert gate.signoffs.count() == 2


def test_booking_and_freeze_edges_are_accepted():
    environment = f.EnvironmentFactory(capacity=1)
    f.BookingFactory(environment=environment, application=None, release=f.ReleaseFactory())
    f.BookingFactory(environment=environment, status=Booking.Status.CANCELLED)
    f.BookingFactory(environment=environment, approved=True)
    f.BookingFactory(environment=environment, status=Booking.Status.REJECTED, decided_by=f.UserFactory())
    f.BookingFactory(
        environment=environment, freeze_override_by=f.UserFactory(), freeze_override_reason="Incident fix"
    )
    f.FreezeWindowFactory()
    f.FreezeWindowFactory(for_portfolio=True)
    f.FreezeWindowFactory(for_environment=True)
    f.EnvironmentComponentFactory(composite=environment)
    assert environment.bookings.count() == 5
    assert set(FreezeWindow.objects.values_list("scope", flat=True)) == {"global", "portfolio", "environment"}


def test_external_ids_may_repeat_when_empty_or_from_another_source():
    for factory in (f.ReleaseFactory, f.DeploymentFactory, f.WorkItemFactory, f.TestRunFactory):
        model = factory._meta.model
        factory()
        factory()
        factory(source="jira#1", external_id="1")
        factory(source="jira#2", external_id="1")
        assert model.objects.filter(external_id="1").count() == 2
        assert model.objects.filter(external_id="").count() >= 2


def test_sync_edges_are_accepted():
    connection_ = f.ConnectionFactory()
    f.SyncRunFactory(connection=connection_)
    f.SyncRunFactory(connection=connection_, status=SyncRun.Status.FAILED)
    f.SyncRunFactory(connection=connection_, started_at=f.moment(5), finished_at=f.moment(5))
    f.SyncRunFactory(connection=connection_, status=SyncRun.Status.QUEUED, started_at=None, finished_at=None)
    f.SyncRunFactory(status=SyncRun.Status.RUNNING, finished_at=None)  # another connection
    other = f.ConnectionFactory()
    f.SyncCursorFactory(connection=connection_, stream="issues:PAY")
    f.SyncCursorFactory(connection=other, stream="issues:PAY")
    assert connection_.runs.count() == 4
    assert SyncCursor.objects.filter(stream="issues:PAY").count() == 2


def test_enum_columns_accept_every_choice():
    for criticality in Application.Criticality.values:
        f.ApplicationFactory(criticality=criticality)
    for cadence in Application.Cadence.values:
        f.ApplicationFactory(release_cadence=cadence)
    for status in Release.Status.values:
        f.ReleaseFactory(status=status, actual_date=f.day(1) if status == "released" else None)
    for kind in Environment.Kind.values:
        f.EnvironmentFactory(kind=kind)
    assert Application.objects.count() == len(Application.Criticality) + len(Application.Cadence) + len(
        Release.Status
    )
    assert set(Environment.objects.values_list("kind", flat=True)) == set(Environment.Kind.values)


# --- PostgreSQL: the exclusion constraint on approved bookings ----------------------------------


@pytest.fixture
def postgresql():
    if connection.vendor != "postgresql":
        pytest.skip("booking_exclusive_no_overlap exists only on PostgreSQL (migration releases 0002)")


@contextmanager
def refused_by_exclusion():
    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        yield
    assert "booking_exclusive_no_overlap" in str(excinfo.value)


def _approved(environment, start: float, end: float, **fields):
    return f.BookingFactory(
        environment=environment, approved=True, starts_at=f.moment(start), ends_at=f.moment(end), **fields
    )


@pytest.mark.postgres
def test_exclusive_environment_refuses_overlapping_approved_bookings(postgresql):
    environment = f.EnvironmentFactory(capacity=1)
    _approved(environment, 9, 11)
    with refused_by_exclusion():
        _approved(environment, 10, 12)
    with refused_by_exclusion():
        _approved(environment, 9.5, 10.5)  # inside


@pytest.mark.postgres
def test_exclusion_refuses_approving_into_an_overlap(postgresql):
    environment = f.EnvironmentFactory(capacity=1)
    _approved(environment, 9, 11)
    requested = f.BookingFactory(environment=environment, starts_at=f.moment(10), ends_at=f.moment(12))
    with refused_by_exclusion():
        Booking.objects.filter(pk=requested.pk).update(status="approved", decided_by=f.UserFactory())


@pytest.mark.postgres
def test_exclusion_allows_touching_intervals(postgresql):
    environment = f.EnvironmentFactory(capacity=1)
    _approved(environment, 9, 10)
    _approved(environment, 10, 11)
    assert environment.bookings.approved().count() == 2


@pytest.mark.postgres
def test_exclusion_allows_overlap_on_shared_environments(postgresql):
    environment = f.EnvironmentFactory(capacity=3)
    _approved(environment, 9, 11, exclusive=False)
    _approved(environment, 10, 12, exclusive=False)
    assert environment.bookings.approved().count() == 2


@pytest.mark.postgres
def test_exclusion_allows_overlap_with_requests_and_other_environments(postgresql):
    environment = f.EnvironmentFactory(capacity=1)
    _approved(environment, 9, 11)
    f.BookingFactory(environment=environment, starts_at=f.moment(10), ends_at=f.moment(12))
    f.BookingFactory(
        environment=environment,
        status=Booking.Status.REJECTED,
        decided_by=f.UserFactory(),
        starts_at=f.moment(9),
        ends_at=f.moment(11),
    )
    _approved(f.EnvironmentFactory(capacity=1), 9, 11)
    assert environment.bookings.count() == 3
