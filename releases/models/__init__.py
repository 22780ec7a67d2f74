"""The domain model of DESIGN.md. Fields, constraints and small properties only; writes live in services."""

from releases.models.audit import AuditChainHead, AuditEvent
from releases.models.environment import Booking, Deployment, Environment, EnvironmentComponent, FreezeWindow
from releases.models.facts import (
    Build,
    PullRequest,
    ScopeChange,
    SourceAlias,
    TestRun,
    WorkItem,
    WorkItemLink,
)
from releases.models.gate import Gate, GateKind, GatePolicy, GateRequirement, PolicyChange, SignOff
from releases.models.metrics import DailyFigure, MetricsRollup, ProductionOutcome
from releases.models.notes import ReleaseNotes
from releases.models.notification import (
    ChatWebhook,
    Delivery,
    Notification,
    NotificationKind,
    NotificationPreference,
)
from releases.models.portfolio import Application, Portfolio, ReleaseTrain
from releases.models.release import Release, ReleaseDependency
from releases.models.saved_view import SavedView

__all__ = [
    "Application",
    "AuditChainHead",
    "AuditEvent",
    "Booking",
    "Build",
    "ChatWebhook",
    "DailyFigure",
    "Delivery",
    "Deployment",
    "Environment",
    "EnvironmentComponent",
    "FreezeWindow",
    "Gate",
    "GateKind",
    "GatePolicy",
    "GateRequirement",
    "MetricsRollup",
    "Notification",
    "NotificationKind",
    "NotificationPreference",
    "PolicyChange",
    "Portfolio",
    "ProductionOutcome",
    "PullRequest",
    "Release",
    "ReleaseDependency",
    "ReleaseNotes",
    "ReleaseTrain",
    "SavedView",
    "ScopeChange",
    "SignOff",
    "SourceAlias",
    "TestRun",
    "WorkItem",
    "WorkItemLink",
]
