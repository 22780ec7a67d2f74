"""factory_boy factories for every domain model: valid by default (every CHECK constraint holds),
deterministic (sequences and fixed dates, never random or "now").

Audit events have no factory: only releases.audit.audit_record writes them, so tests call it.
"""

import hashlib
from datetime import UTC, date, datetime, timedelta

import factory
from django.contrib.auth.models import Group
from django.db import transaction
from factory.django import DjangoModelFactory

from integrations.models import ApplicationMapping, Connection, SyncCursor, SyncRun, WebhookDelivery
from portal.models import User, WorkerHeartbeat
from releases.audit import audit_record
from releases.models import (
    Application,
    Booking,
    Build,
    ChatWebhook,
    DailyFigure,
    Deployment,
    Environment,
    EnvironmentComponent,
    FreezeWindow,
    Gate,
    GatePolicy,
    GateRequirement,
    MetricsRollup,
    Notification,
    NotificationPreference,
    PolicyChange,
    Portfolio,
    ProductionOutcome,
    PullRequest,
    Release,
    ReleaseDependency,
    ReleaseNotes,
    ReleaseTrain,
    SavedView,
    ScopeChange,
    SignOff,
    SourceAlias,
    TestRun,
    WorkItem,
    WorkItemLink,
)

BASE_DAY = date(2030, 1, 7)  # a Monday
BASE_TIME = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)


def day(n: int) -> date:
    return BASE_DAY + timedelta(days=n)


def moment(hours: float) -> datetime:
    return BASE_TIME + timedelta(hours=hours)


class GroupFactory(DjangoModelFactory):
    class Meta:
        model = Group
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Group {n}")


class UserFactory(DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Sequence(lambda n: f"Ada{n}")
    last_name = "Tester"
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    # Unusable (and instant to make); UserFactory(password="...") hashes the one given.
    password = factory.django.Password(None)


class PortfolioFactory(DjangoModelFactory):
    class Meta:
        model = Portfolio

    name = factory.Sequence(lambda n: f"Portfolio {n}")
    slug = factory.Sequence(lambda n: f"portfolio-{n}")


class ApplicationFactory(DjangoModelFactory):
    class Meta:
        model = Application

    portfolio = factory.SubFactory(PortfolioFactory)
    name = factory.Sequence(lambda n: f"Application {n}")
    key = factory.Sequence(lambda n: f"APP{n}")


class ReleaseTrainFactory(DjangoModelFactory):
    class Meta:
        model = ReleaseTrain

    portfolio = factory.SubFactory(PortfolioFactory)
    name = factory.Sequence(lambda n: f"Train {n}")
    starts_on = factory.Sequence(lambda n: day(14 * (n % 26)))
    ends_on = factory.LazyAttribute(lambda train: train.starts_on + timedelta(days=14))


class ReleaseFactory(DjangoModelFactory):
    class Meta:
        model = Release

    application = factory.SubFactory(ApplicationFactory)
    version = factory.Sequence(lambda n: f"1.{n}.0")
    summary = factory.Sequence(lambda n: f"Release {n}")
    target_date = factory.Sequence(lambda n: day(n % 90))
    # A test that sets the stored flag gets the state it stands for, as forecast_refresh would store it.
    forecast_state = factory.LazyAttribute(
        lambda r: "at_risk" if getattr(r, "at_risk", False) else "on_track"
    )

    class Params:
        released = factory.Trait(
            status=Release.Status.RELEASED, actual_date=factory.LazyAttribute(lambda r: r.target_date)
        )


class ReleaseDependencyFactory(DjangoModelFactory):
    class Meta:
        model = ReleaseDependency

    downstream = factory.SubFactory(ReleaseFactory)
    upstream = factory.SubFactory(ReleaseFactory)


class GatePolicyFactory(DjangoModelFactory):
    class Meta:
        model = GatePolicy

    portfolio = factory.SubFactory(PortfolioFactory)
    name = factory.Sequence(lambda n: f"Gate policy {n}")


class GateRequirementFactory(DjangoModelFactory):
    class Meta:
        model = GateRequirement

    policy = factory.SubFactory(GatePolicyFactory)
    kind = "security"
    name = factory.Sequence(lambda n: f"Requirement {n}")
    signer_group = factory.SubFactory(GroupFactory)


class PolicyChangeFactory(DjangoModelFactory):
    """A proposal to remove a requirement, waiting for its second person."""

    class Meta:
        model = PolicyChange

    requirement = factory.SubFactory(GateRequirementFactory)
    policy = factory.LazyAttribute(lambda change: change.requirement.policy)
    action = "remove"
    subject = factory.LazyAttribute(lambda change: change.requirement.name)
    weakens = ["removes it"]
    needs_approval = True
    reason = "No longer needed."
    proposed_by = factory.SubFactory(UserFactory)
    proposed_at = factory.Sequence(lambda n: moment(n))


class GateFactory(DjangoModelFactory):
    class Meta:
        model = Gate

    release = factory.SubFactory(ReleaseFactory)
    kind = "qa"
    name = factory.Sequence(lambda n: f"Gate {n}")
    due_date = factory.LazyAttribute(lambda gate: gate.release.target_date - timedelta(days=2))
    signer_group = factory.SubFactory(GroupFactory)


class SignOffFactory(DjangoModelFactory):
    class Meta:
        model = SignOff

    gate = factory.SubFactory(GateFactory)
    signer = factory.SubFactory(UserFactory)
    signer_name = factory.LazyAttribute(lambda signoff: signoff.signer.get_full_name())
    decision = "approve"
    meaning = "I have reviewed the evidence and approve this release."
    signed_at = factory.Sequence(lambda n: moment(n))
    reauthenticated = True
    state_hash = factory.Sequence(lambda n: hashlib.sha256(f"state {n}".encode()).hexdigest())

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        """With its signoff.create event, as gate_sign writes it: audit_verify checks every sign-off
        against its event."""
        with transaction.atomic():
            signoff = super()._create(model_class, *args, **kwargs)
            audit_record(actor=signoff.signer, action="signoff.create", obj=signoff)
        return signoff


class EnvironmentFactory(DjangoModelFactory):
    class Meta:
        model = Environment

    name = factory.Sequence(lambda n: f"env-{n}")
    kind = "test"


class EnvironmentComponentFactory(DjangoModelFactory):
    class Meta:
        model = EnvironmentComponent

    composite = factory.SubFactory(EnvironmentFactory)
    component = factory.SubFactory(EnvironmentFactory)


class BookingFactory(DjangoModelFactory):
    class Meta:
        model = Booking

    environment = factory.SubFactory(EnvironmentFactory)
    application = factory.SubFactory(ApplicationFactory)
    requester = factory.SubFactory(UserFactory)
    starts_at = factory.Sequence(lambda n: moment(24 * n))
    ends_at = factory.LazyAttribute(lambda booking: booking.starts_at + timedelta(hours=4))
    exclusive = factory.LazyAttribute(lambda booking: booking.environment.capacity == 1)
    purpose = factory.Sequence(lambda n: f"Regression run {n}")

    class Params:
        approved = factory.Trait(
            status=Booking.Status.APPROVED,
            decided_by=factory.SubFactory(UserFactory),
            decided_at=factory.LazyAttribute(lambda booking: booking.starts_at - timedelta(days=1)),
        )


class FreezeWindowFactory(DjangoModelFactory):
    class Meta:
        model = FreezeWindow

    scope = FreezeWindow.Scope.GLOBAL
    starts_at = factory.Sequence(lambda n: moment(24 * 7 * n))
    ends_at = factory.LazyAttribute(lambda window: window.starts_at + timedelta(days=2))
    reason = factory.Sequence(lambda n: f"Quarter close {n}")

    class Params:
        for_portfolio = factory.Trait(
            scope=FreezeWindow.Scope.PORTFOLIO, portfolio=factory.SubFactory(PortfolioFactory)
        )
        for_environment = factory.Trait(
            scope=FreezeWindow.Scope.ENVIRONMENT, environment=factory.SubFactory(EnvironmentFactory)
        )


class DeploymentFactory(DjangoModelFactory):
    class Meta:
        model = Deployment

    environment = factory.SubFactory(EnvironmentFactory)
    application = factory.SubFactory(ApplicationFactory)
    version = factory.Sequence(lambda n: f"1.{n}.0")
    deployed_at = factory.Sequence(lambda n: moment(n))


class ProductionOutcomeFactory(DjangoModelFactory):
    """A deployment as the metrics' roll-up judged it: a plain success unless told otherwise."""

    class Meta:
        model = ProductionOutcome

    deployment = factory.SubFactory(DeploymentFactory, environment__kind="prod")
    day = factory.LazyAttribute(lambda o: o.deployment.deployed_at.date())
    deployed_at = factory.LazyAttribute(lambda o: o.deployment.deployed_at)
    application = factory.LazyAttribute(lambda o: o.deployment.application)
    environment = factory.LazyAttribute(lambda o: o.deployment.environment)
    version = factory.LazyAttribute(lambda o: o.deployment.version)
    status = "success"
    rollback = incident = hotfixed = failure = False


class DailyFigureFactory(DjangoModelFactory):
    """A day's count of one release measure: two releases shipped on their target day."""

    class Meta:
        model = DailyFigure

    figure = "release_slip"
    day = factory.Sequence(lambda n: day(n))
    application = factory.SubFactory(ApplicationFactory)
    label = "0"
    count = known = 2
    total = 20.0


class MetricsRollupFactory(DjangoModelFactory):
    """The roll-up's one row."""

    class Meta:
        model = MetricsRollup
        django_get_or_create = ("id",)

    id = 1


class WorkItemFactory(DjangoModelFactory):
    class Meta:
        model = WorkItem

    application = factory.SubFactory(ApplicationFactory)
    key = factory.Sequence(lambda n: f"WI-{n}")
    title = factory.Sequence(lambda n: f"Work item {n}")
    created_at = factory.Sequence(lambda n: moment(n))


class SourceAliasFactory(DjangoModelFactory):
    """Another source's id for a work item (pass `release=...` and `work_item=None` for a release)."""

    class Meta:
        model = SourceAlias

    source = "jira_cloud#99"
    external_id = factory.Sequence(lambda n: f"alias-{n}")
    work_item = factory.SubFactory(WorkItemFactory)


class ScopeChangeFactory(DjangoModelFactory):
    class Meta:
        model = ScopeChange

    release = factory.SubFactory(ReleaseFactory)
    work_item = factory.SubFactory(
        WorkItemFactory, application=factory.SelfAttribute("..release.application")
    )
    kind = "added"
    at = factory.Sequence(lambda n: moment(n))
    recorded_at = factory.LazyAttribute(lambda change: change.at)


class WorkItemLinkFactory(DjangoModelFactory):
    class Meta:
        model = WorkItemLink

    blocker = factory.SubFactory(WorkItemFactory)
    blocked = factory.SubFactory(WorkItemFactory)


class BuildFactory(DjangoModelFactory):
    class Meta:
        model = Build

    application = factory.SubFactory(ApplicationFactory)
    job = "ci"
    number = factory.Sequence(lambda n: n + 1)
    result = Build.Result.SUCCESS
    started_at = factory.Sequence(lambda n: moment(n))
    duration_ms = 90_000


class PullRequestFactory(DjangoModelFactory):
    class Meta:
        model = PullRequest

    application = factory.SubFactory(ApplicationFactory)
    repository = "acme/app"
    number = factory.Sequence(lambda n: n + 1)
    title = factory.Sequence(lambda n: f"Change {n}")
    created_at = factory.Sequence(lambda n: moment(n))
    updated_at = factory.LazyAttribute(lambda pull: pull.created_at)


class TestRunFactory(DjangoModelFactory):
    class Meta:
        model = TestRun

    release = factory.SubFactory(ReleaseFactory)
    name = factory.Sequence(lambda n: f"Suite {n}")
    passed = 95
    failed = 3
    skipped = 2
    executed_at = factory.Sequence(lambda n: moment(n))


class WorkerHeartbeatFactory(DjangoModelFactory):
    class Meta:
        model = WorkerHeartbeat

    name = factory.Sequence(lambda n: f"worker-{n}")
    seen_at = BASE_TIME


class ConnectionFactory(DjangoModelFactory):
    class Meta:
        model = Connection

    name = factory.Sequence(lambda n: f"Jira {n}")
    kind = Connection.Kind.JIRA_CLOUD
    base_url = factory.Sequence(lambda n: f"https://jira{n}.example.com")
    credentials = factory.Sequence(lambda n: {"username": "sync-bot@example.com", "token": f"api-token-{n}"})


class ApplicationMappingFactory(DjangoModelFactory):
    class Meta:
        model = ApplicationMapping

    connection = factory.SubFactory(ConnectionFactory)
    application = factory.SubFactory(ApplicationFactory)
    external_key = factory.Sequence(lambda n: f"PRJ{n}")


class SyncCursorFactory(DjangoModelFactory):
    class Meta:
        model = SyncCursor

    connection = factory.SubFactory(ConnectionFactory)
    stream = factory.Sequence(lambda n: f"issues:PRJ{n}")
    watermark = "2030-01-07T09:00:00+00:00"


class SyncRunFactory(DjangoModelFactory):
    class Meta:
        model = SyncRun

    connection = factory.SubFactory(ConnectionFactory)
    status = SyncRun.Status.SUCCEEDED
    started_at = factory.Sequence(lambda n: moment(n))
    finished_at = factory.LazyAttribute(lambda run: run.started_at + timedelta(minutes=3))


class WebhookDeliveryFactory(DjangoModelFactory):
    class Meta:
        model = WebhookDelivery

    connection = factory.SubFactory(ConnectionFactory)
    delivery_id = factory.Sequence(lambda n: f"delivery-{n}")
    event = "push"


class NotificationFactory(DjangoModelFactory):
    class Meta:
        model = Notification

    user = factory.SubFactory(UserFactory)
    kind = Notification.Kind.SLIP
    delivery = Notification.Delivery.IMMEDIATE
    subject = factory.Sequence(lambda n: f"PAY 4.{n}.0 now forecast 2030-02-01, 3 days after its target")
    body = "It was forecast 2030-01-29: 3 days later now.\n"


class NotificationPreferenceFactory(DjangoModelFactory):
    class Meta:
        model = NotificationPreference

    user = factory.SubFactory(UserFactory)
    kind = Notification.Kind.SLIP
    delivery = Notification.Delivery.DIGEST


class ChatWebhookFactory(DjangoModelFactory):
    class Meta:
        model = ChatWebhook

    name = factory.Sequence(lambda n: f"#release-news-{n}")
    url = factory.Sequence(lambda n: f"https://hooks.example.com/services/T0/B{n}")
    style = ChatWebhook.Style.SLACK


class SavedViewFactory(DjangoModelFactory):
    """A saved view as a row; its feed token is the hash of a token nobody knows (the service,
    saved_view_create, returns the token)."""

    class Meta:
        model = SavedView

    owner = factory.SubFactory(UserFactory)
    name = factory.Sequence(lambda n: f"At risk {n}")
    page = SavedView.Page.CALENDAR
    query = "at_risk=true"
    feed_token_hash = factory.Sequence(lambda n: hashlib.sha256(f"saved-view-{n}".encode()).hexdigest())


class ReleaseNotesFactory(DjangoModelFactory):
    class Meta:
        model = ReleaseNotes

    release = factory.SubFactory(ReleaseFactory)
    markdown = factory.Sequence(lambda n: f"## New\n\n- Change {n}")
    updated_by = factory.SubFactory(UserFactory)
