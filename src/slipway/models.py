"""Imports every table so that Base.metadata is complete (Alembic and tests need that)."""

from slipway.apps.models import App, EnvVar
from slipway.audit.models import AuditRecord
from slipway.auth.models import ApiToken, Invitation, LoginAttempt, Membership, Project, Team, User, WebSession
from slipway.cron import models as cron_models  # noqa: F401
from slipway.deploys.models import Deploy, DeployLogLine, Release
from slipway.domains.models import Domain
from slipway.events import Event
from slipway.forge.models import ForgeLink, ForgeTarget
from slipway.gitpush.models import SshKey
from slipway.hooks.models import AppHook, HookDelivery
from slipway.instances.models import Instance, PortLease
from slipway.jobs.models import Job
from slipway.notify import models as notify_models  # noqa: F401
from slipway.observability import models as observability_models  # noqa: F401
from slipway.previews.models import Preview, PreviewConfig

__all__ = ["App", "EnvVar", "ApiToken", "LoginAttempt", "User", "WebSession", "AuditRecord", "Invitation",
           "Membership", "Project", "Team", "Deploy", "DeployLogLine",
           "Release", "Event", "ForgeLink", "ForgeTarget", "Preview", "PreviewConfig", "AppHook", "HookDelivery",
           "Instance", "PortLease", "Job", "SshKey", "Domain"]
