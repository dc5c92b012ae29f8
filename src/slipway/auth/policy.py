"""Who may do what: roles, token scopes, and THE table of every route's required permission.

One dependency (web/deps.py `authorize`, installed app-wide by create_app) looks a request's route up in
ROUTES, finds the resource it is about from the path (`{name}` → app → project → team; `{team}`,
`{project}`) and checks the principal's role there. A route missing from ROUTES is refused at run time
and fails tests/integration/security/test_route_policy.py.

Permissions
  public          anyone, no login (health, login form, status page, signed webhooks, static files)
  authenticated   any valid token or session (whoami, own account, own tokens, logout)
  app:read        see an app, its deploys, releases, metrics, checks (env values masked)
  app:logs        read instance output and search it (apps print secrets more often than they should)
  app:deploy      deploy, rollback, restart, stop, start, cancel, replay, run a command
  app:write       env vars, scale, limits, build config, checks, webhook settings, mutes, status page
  app:env:reveal  env values and webhook secrets in clear
  app:create / app:delete
  platform:read / platform:admin   platform-wide things (notification channels and rules, monitors,
                  servers, Prometheus): they follow the role in the "default" team
  team:read / team:admin / team:owner   members, invitations, projects / the team's own settings
  audit:read      the activity timeline of what one can see
"""

from __future__ import annotations

from dataclasses import dataclass, field

VIEWER = frozenset({"app:read", "platform:read", "team:read", "audit:read"})
DEVELOPER = VIEWER | {"app:logs", "app:deploy", "app:write", "app:env:reveal"}
ADMIN = DEVELOPER | {"app:create", "app:delete", "team:admin", "platform:admin"}
OWNER = ADMIN | {"team:owner"}
ROLE_PERMS: dict[str, frozenset[str]] = {"viewer": VIEWER, "developer": DEVELOPER, "admin": ADMIN, "owner": OWNER}
SCOPE_PERMS: dict[str, frozenset[str]] = {"read": VIEWER, "deploy": VIEWER | {"app:logs", "app:deploy"}, "admin": OWNER}
SPECIAL = frozenset({"public", "authenticated"})
ALL_PERMS = OWNER | SPECIAL


@dataclass(frozen=True)
class Rule:
    perm: str
    reveal: str | None = None  # a query parameter that, when true, raises the need to app:env:reveal


P, A = Rule("public"), Rule("authenticated")
AR, AL, AD, AW = Rule("app:read"), Rule("app:logs"), Rule("app:deploy"), Rule("app:write")
AX, AC, ADEL = Rule("app:env:reveal"), Rule("app:create"), Rule("app:delete")
PR, PA = Rule("platform:read"), Rule("platform:admin")
TR, TA, TO = Rule("team:read"), Rule("team:admin"), Rule("team:owner")
AU = Rule("audit:read")

ROUTES: dict[tuple[str, str], Rule] = {
    # framework and public
    ("GET", "/api/openapi.json"): P,
    ("GET", "/api/docs"): P,
    ("GET", "/docs/oauth2-redirect"): P,
    ("*", "/static"): P,
    ("GET", "/api/v1/health"): P,
    ("POST", "/hooks/{provider}/{hook_id}"): P,  # signed with the app's webhook secret
    ("GET", "/status"): P,  # the public status page (its path is a setting: see rule_for)
    ("GET", "/login"): P,
    ("POST", "/login"): P,  # double-submit CSRF of its own
    ("GET", "/login/2fa"): P,  # needs the pending session of a password login
    ("POST", "/login/2fa"): P,
    ("GET", "/invite/{token}"): P,  # the invitation token is the credential
    ("POST", "/invite/{token}"): P,
    # identity, account, own tokens
    ("GET", "/api/v1/whoami"): A,
    ("GET", "/api/v1/tokens"): A,
    ("POST", "/api/v1/tokens"): A,  # within the caller's own role: see auth/api.py
    ("DELETE", "/api/v1/tokens/{token_id}"): A,
    ("GET", "/api/v1/account"): A,
    ("POST", "/logout"): A,
    ("GET", "/account"): A,
    ("POST", "/account/sessions/revoke-others"): A,
    ("POST", "/account/sessions/{session_id}/revoke"): A,
    ("POST", "/account/password"): A,
    ("POST", "/account/2fa/setup"): A,
    ("POST", "/account/2fa/enable"): A,
    ("POST", "/account/2fa/disable"): A,
    ("POST", "/account/tokens"): A,
    ("POST", "/account/tokens/{token_id}/revoke"): A,
    ("POST", "/account/ssh-keys"): A,
    ("POST", "/account/invitations/{invitation_id}/accept"): A,
    ("POST", "/account/invitations/{invitation_id}/decline"): A,
    ("POST", "/account/ssh-keys/{key_id}/remove"): A,
    # apps
    ("GET", "/api/v1/apps"): AR,  # filtered to what the principal can see
    ("POST", "/api/v1/apps"): AC,  # in the body's project (default: the first one the principal may create in)
    ("GET", "/api/v1/apps/{name}"): AR,
    ("PATCH", "/api/v1/apps/{name}"): AW,
    ("DELETE", "/api/v1/apps/{name}"): ADEL,
    ("PUT", "/api/v1/apps/{name}/scale"): AW,
    ("GET", "/api/v1/apps/{name}/env"): Rule("app:read", reveal="reveal"),
    ("PATCH", "/api/v1/apps/{name}/env"): AW,
    ("GET", "/api/v1/apps/{name}/instances"): AR,
    ("GET", "/api/v1/apps/{name}/logs"): AL,
    ("GET", "/api/v1/apps/{name}/limits"): AR,
    ("PUT", "/api/v1/apps/{name}/limits/{process_type}"): AW,
    ("PATCH", "/api/v1/apps/{name}/build-config"): AW,
    ("POST", "/api/v1/apps/{name}/run"): AD,
    ("*", "/api/v1/apps/{name}/run/tty"): AD,  # WebSocket (`slipway run -t`): the same gate, refused with 1008
    ("GET", "/api/v1/apps/{name}/activity"): AU,
    # deploys
    ("POST", "/api/v1/apps/{name}/deploys"): AD,
    ("POST", "/api/v1/apps/{name}/deploys/{deploy_id}/cancel"): AD,
    ("POST", "/api/v1/apps/{name}/rollback"): AD,
    ("POST", "/api/v1/apps/{name}/restart"): AD,
    ("POST", "/api/v1/apps/{name}/stop"): AD,
    ("POST", "/api/v1/apps/{name}/start"): AD,
    ("GET", "/api/v1/apps/{name}/deploys"): AR,
    ("GET", "/api/v1/apps/{name}/deploys/{deploy_id}"): AR,
    ("GET", "/api/v1/apps/{name}/deploys/{deploy_id}/log"): AR,
    ("GET", "/api/v1/apps/{name}/deploys/{deploy_id}/stream"): AR,
    ("GET", "/api/v1/apps/{name}/releases"): AR,
    # webhooks
    ("GET", "/api/v1/apps/{name}/hook"): Rule("app:read", reveal="reveal"),
    ("POST", "/api/v1/apps/{name}/hook/rotate"): AX,  # answers with the new secret
    ("PATCH", "/api/v1/apps/{name}/hook"): AW,
    ("GET", "/api/v1/apps/{name}/deliveries"): AR,
    ("GET", "/api/v1/apps/{name}/deliveries/{delivery_id}"): AR,
    ("POST", "/api/v1/apps/{name}/deliveries/{delivery_id}/replay"): AD,
    # git push over SSH (slipway/gitpush): your keys; the remote; the gateway sshd runs for a key
    ("GET", "/api/v1/ssh-keys"): A,  # your own keys
    ("POST", "/api/v1/ssh-keys"): A,
    ("DELETE", "/api/v1/ssh-keys/{key_id}"): A,
    ("GET", "/api/v1/apps/{name}/git"): AR,
    ("POST", "/api/v1/apps/{name}/git/receive-pack"): AD,  # these three: SSH-key principals only (the gateway)
    ("POST", "/api/v1/apps/{name}/git/upload-pack"): AR,
    ("POST", "/api/v1/apps/{name}/git/push"): AD,
    # pull request previews and the forge link (slipway/previews, slipway/forge)
    ("GET", "/api/v1/apps/{name}/previews"): AR,
    ("DELETE", "/api/v1/apps/{name}/previews/{number}"): AD,
    ("GET", "/api/v1/apps/{name}/preview-settings"): Rule("app:read", reveal="reveal"),
    ("PATCH", "/api/v1/apps/{name}/preview-settings"): AW,
    ("GET", "/api/v1/apps/{name}/forge"): AR,  # the token is always masked
    ("PUT", "/api/v1/apps/{name}/forge"): AW,
    ("DELETE", "/api/v1/apps/{name}/forge"): AW,
    # custom domains and certificates (slipway/domains)
    ("GET", "/api/v1/apps/{name}/domains"): AR,
    ("POST", "/api/v1/apps/{name}/domains"): AW,
    ("GET", "/api/v1/apps/{name}/domains/{domain}"): AR,
    ("PATCH", "/api/v1/apps/{name}/domains/{domain}"): AW,
    ("DELETE", "/api/v1/apps/{name}/domains/{domain}"): AW,
    ("POST", "/api/v1/apps/{name}/domains/{domain}/check"): AW,  # records findings, may route the name
    ("PUT", "/api/v1/apps/{name}/domains/{domain}/certificate"): AW,
    ("GET", "/api/v1/certs"): AR,  # filtered to the apps the principal can see
    ("GET", "/.well-known/slipway-doctor/{nonce}"): P,  # the doctor's token: an HMAC of the nonce, nothing else
    # observability
    # scheduled jobs: what runs is the app's code with its env, so changing them is app:deploy like `run`
    ("GET", "/api/v1/cron/preview"): A,
    ("GET", "/api/v1/apps/{name}/cron"): AR,
    ("POST", "/api/v1/apps/{name}/cron"): AD,
    ("GET", "/api/v1/apps/{name}/cron/{job}"): AR,
    ("DELETE", "/api/v1/apps/{name}/cron/{job}"): AD,
    ("POST", "/api/v1/apps/{name}/cron/{job}/pause"): AD,
    ("POST", "/api/v1/apps/{name}/cron/{job}/resume"): AD,
    ("POST", "/api/v1/apps/{name}/cron/{job}/run"): AD,
    ("GET", "/api/v1/apps/{name}/cron/{job}/runs"): AR,
    ("GET", "/api/v1/apps/{name}/metrics"): AR,
    ("GET", "/api/v1/servers/{server}/metrics"): PR,
    ("GET", "/api/v1/apps/{name}/checks"): AR,
    ("POST", "/api/v1/apps/{name}/checks"): AW,
    ("GET", "/api/v1/apps/{name}/checks/{check_id}"): AR,
    ("PATCH", "/api/v1/apps/{name}/checks/{check_id}"): AW,
    ("DELETE", "/api/v1/apps/{name}/checks/{check_id}"): AW,
    ("POST", "/api/v1/apps/{name}/checks/{check_id}/run"): AD,
    ("GET", "/api/v1/apps/{name}/checks/{check_id}/results"): AR,
    ("GET", "/api/v1/monitors"): PR,
    ("POST", "/api/v1/monitors"): PA,
    ("GET", "/api/v1/monitors/{check_id}"): PR,
    ("PATCH", "/api/v1/monitors/{check_id}"): PA,
    ("DELETE", "/api/v1/monitors/{check_id}"): PA,
    ("POST", "/api/v1/monitors/{check_id}/run"): PA,
    ("GET", "/api/v1/monitors/{check_id}/results"): PR,
    ("GET", "/api/v1/monitors/{check_id}/incidents"): PR,
    ("GET", "/api/v1/apps/{name}/incidents"): AR,
    ("GET", "/api/v1/apps/{name}/uptime"): AR,
    ("GET", "/api/v1/apps/{name}/status-page"): AR,
    ("PATCH", "/api/v1/apps/{name}/status-page"): AW,
    ("GET", "/api/v1/apps/{name}/logs/search"): AL,
    ("GET", "/api/v1/apps/{name}/error-rate"): AR,
    ("GET", "/metrics"): PR,
    # notifications
    ("GET", "/api/v1/notify/types"): A,
    ("GET", "/api/v1/notify/events"): A,
    ("GET", "/api/v1/channels"): PR,
    ("POST", "/api/v1/channels"): PA,
    ("GET", "/api/v1/channels/{ref}"): PR,
    ("PATCH", "/api/v1/channels/{ref}"): PA,
    ("DELETE", "/api/v1/channels/{ref}"): PA,
    ("POST", "/api/v1/channels/{ref}/test"): PA,
    ("GET", "/api/v1/channels/{ref}/deliveries"): PR,
    ("GET", "/api/v1/deliveries"): PR,
    ("GET", "/api/v1/deliveries/{delivery_id}"): PR,
    ("GET", "/api/v1/rules"): PR,
    ("POST", "/api/v1/rules"): PA,
    ("PATCH", "/api/v1/rules/{rule_id}"): PA,
    ("DELETE", "/api/v1/rules/{rule_id}"): PA,
    ("GET", "/api/v1/notifications"): PR,
    ("POST", "/api/v1/notifications/read"): PR,  # a read marker, not a change to anything shared
    ("GET", "/api/v1/mutes"): PR,
    ("GET", "/api/v1/apps/{name}/mute"): AR,
    ("POST", "/api/v1/apps/{name}/mute"): AW,
    ("DELETE", "/api/v1/apps/{name}/mute"): AW,
    # alert rules and alerts (notify/alerts_api.py)
    ("GET", "/api/v1/alert-rules"): PR,
    ("POST", "/api/v1/alert-rules"): PA,
    ("GET", "/api/v1/alert-rules/{rule_id}"): PR,
    ("PATCH", "/api/v1/alert-rules/{rule_id}"): PA,
    ("DELETE", "/api/v1/alert-rules/{rule_id}"): PA,
    ("GET", "/api/v1/alerts"): PR,
    ("GET", "/api/v1/alerts/{alert_id}"): PR,
    ("POST", "/api/v1/alerts/{alert_id}/ack"): PR,  # "I'm on it", recorded with who: whoever sees alerts may say so
    # teams, projects, members, invitations, activity
    ("GET", "/api/v1/teams"): A,  # filtered to the caller's teams
    ("POST", "/api/v1/teams"): PA,
    ("GET", "/api/v1/teams/{team}"): TR,
    ("PATCH", "/api/v1/teams/{team}"): TO,
    ("GET", "/api/v1/teams/{team}/members"): TR,
    ("PUT", "/api/v1/teams/{team}/members/{username}"): TA,
    ("DELETE", "/api/v1/teams/{team}/members/{username}"): TA,
    ("GET", "/api/v1/teams/{team}/projects"): TR,
    ("POST", "/api/v1/teams/{team}/projects"): TA,
    ("GET", "/api/v1/teams/{team}/invitations"): TA,
    ("POST", "/api/v1/teams/{team}/invitations"): TA,
    ("DELETE", "/api/v1/teams/{team}/invitations/{invitation_id}"): TA,
    ("POST", "/api/v1/invitations/{token}/accept"): A,
    ("GET", "/api/v1/account/invitations"): A,  # addressed to the caller's own account
    ("POST", "/api/v1/account/invitations/{invitation_id}/accept"): A,
    ("POST", "/api/v1/account/invitations/{invitation_id}/decline"): A,
    ("GET", "/api/v1/teams/{team}/activity"): AU,
    ("GET", "/api/v1/projects/{project}/activity"): AU,
    # dashboard: apps
    ("GET", "/"): AR,
    ("GET", "/partials/apps"): AR,
    ("POST", "/apps"): AC,
    ("GET", "/apps/{name}"): AR,
    ("GET", "/apps/{name}/partials/live"): AR,
    ("POST", "/apps/{name}/deploy"): AD,
    ("POST", "/apps/{name}/restart"): AD,
    ("POST", "/apps/{name}/stop"): AD,
    ("POST", "/apps/{name}/start"): AD,
    ("POST", "/apps/{name}/rollback"): AD,
    ("POST", "/apps/{name}/env"): AW,
    ("POST", "/apps/{name}/env/unset"): AW,
    ("POST", "/apps/{name}/env/reveal"): AX,
    ("GET", "/apps/{name}/delete"): ADEL,
    ("POST", "/apps/{name}/delete"): ADEL,
    ("GET", "/apps/{name}/deploys/{deploy_id}"): AR,
    ("POST", "/apps/{name}/deploys/schedule"): AD,  # web/deploy_pages.py
    ("POST", "/apps/{name}/deploys/{deploy_id}/cancel"): AD,
    ("GET", "/apps/{name}/deploys/{deploy_id}/partials/status"): AR,
    ("GET", "/apps/{name}/activity"): AU,
    # dashboard: observability (web/observe.py)
    ("GET", "/apps/{name}/metrics.json"): AR,
    ("GET", "/servers/local/metrics.json"): PR,
    ("GET", "/apps/{name}/checks/{check_id}/results.json"): AR,
    ("GET", "/servers/local"): PR,
    ("GET", "/overview"): AR,  # lists only what the user can see (filtered like the apps page)
    ("GET", "/apps/{name}/logs"): AL,
    ("GET", "/apps/{name}/health"): AR,
    ("POST", "/apps/{name}/checks"): AW,
    ("POST", "/apps/{name}/checks/{check_id}/delete"): AW,
    ("POST", "/apps/{name}/checks/{check_id}/run"): AD,
    # dashboard: notifications (web/notify_pages.py)
    ("GET", "/partials/bell"): PR,
    ("GET", "/notifications"): PR,
    ("POST", "/notifications/read"): PR,
    ("GET", "/notifications/channels"): PR,
    ("POST", "/notifications/channels"): PA,
    ("GET", "/notifications/channels/{channel_id}"): PR,
    ("POST", "/notifications/channels/{channel_id}"): PA,
    ("POST", "/notifications/channels/{channel_id}/delete"): PA,
    ("POST", "/notifications/channels/{channel_id}/test"): PA,
    ("POST", "/notifications/rules"): PA,
    ("POST", "/notifications/rules/{rule_id}/delete"): PA,
    ("POST", "/notifications/rules/{rule_id}/toggle"): PA,
    ("POST", "/notifications/mutes"): PA,
    ("POST", "/notifications/mutes/{app}/delete"): AW,
    # dashboard: metric alerts (web/alerts_pages.py), as the alerts API
    ("GET", "/alerts"): PR,
    ("GET", "/alerts/{alert_id}"): PR,
    ("POST", "/alerts/{alert_id}/ack"): PR,  # like POST /api/v1/alerts/{alert_id}/ack
    ("POST", "/alerts/rules"): PA,
    ("POST", "/alerts/rules/{rule_id}/toggle"): PA,
    ("POST", "/alerts/rules/{rule_id}/delete"): PA,
    # dashboard: webhooks (web/hooks_pages.py)
    ("GET", "/apps/{name}/webhooks"): AR,
    ("POST", "/apps/{name}/webhooks/reveal"): AX,
    ("POST", "/apps/{name}/webhooks/rotate"): AX,
    ("POST", "/apps/{name}/webhooks/settings"): AW,
    ("POST", "/apps/{name}/webhooks/deliveries/{delivery_id}/replay"): AD,
    # dashboard: previews (web/previews_pages.py), as the previews API
    ("GET", "/apps/{name}/previews"): AR,
    ("POST", "/apps/{name}/previews/settings"): AW,
    ("POST", "/apps/{name}/previews/overrides"): AW,
    ("POST", "/apps/{name}/previews/overrides/unset"): AW,
    ("POST", "/apps/{name}/previews/{number}/remove"): AD,
    # dashboard: custom domains (web/domains_pages.py), as the domains API
    ("GET", "/apps/{name}/domains"): AR,
    ("POST", "/apps/{name}/domains"): AW,
    ("POST", "/apps/{name}/domains/{domain}/check"): AW,
    ("POST", "/apps/{name}/domains/{domain}/remove"): AW,
    # dashboard: team and activity
    ("GET", "/team"): A,  # the teams the user is in
    ("GET", "/teams/{team}"): TR,
    ("POST", "/teams/{team}/settings"): TO,
    ("POST", "/teams/{team}/invitations"): TA,
    ("POST", "/teams/{team}/invitations/{invitation_id}/revoke"): TA,
    ("POST", "/teams/{team}/members"): TA,  # a member's role at once; anyone else: an invitation
    ("POST", "/teams/{team}/members/{username}/role"): TA,
    ("POST", "/teams/{team}/members/{username}/remove"): TA,
    ("POST", "/teams/{team}/projects"): TA,
    ("GET", "/activity"): AU,  # filtered to what the user can see
    ("GET", "/teams/{team}/activity.csv"): AU,
}

APP_PARAMS = ("name", "app")  # path parameters that name an app (on /api/v1/apps/… and dashboard /apps/…)


def rule_for(method: str, path: str, *, status_path: str = "/status") -> Rule | None:
    if path == status_path:
        path = "/status"
    if method == "HEAD":
        method = "GET"
    return ROUTES.get((method, path)) or ROUTES.get(("*", path))


def permitted(role: str | None, scope: str, perm: str) -> bool:
    if perm in SPECIAL:
        return True
    return (
        role is not None and perm in ROLE_PERMS.get(role, frozenset()) and perm in SCOPE_PERMS.get(scope, frozenset())
    )


@dataclass
class Access:
    """A principal's roles, loaded once per request: (team_id, project_id or None) → role."""

    principal: object | None
    scope: str = "admin"
    roles: dict[tuple[int, int | None], str] = field(default_factory=dict)
    project_teams: dict[int, int] = field(default_factory=dict)  # project id → team id
    default_team_id: int = 0
    default_project_id: int = 0

    def role_in_project(self, project_id: int | None) -> str | None:
        project_id = project_id or self.default_project_id
        team_id = self.project_teams.get(project_id)
        if team_id is None:
            return None
        return self.roles.get((team_id, project_id)) or self.roles.get((team_id, None))

    def role_in_team(self, team_id: int) -> str | None:
        return self.roles.get((team_id, None))

    def can_project(self, perm: str, project_id: int | None) -> bool:
        return permitted(self.role_in_project(project_id), self.scope, perm)

    def can_team(self, perm: str, team_id: int) -> bool:
        role = self.role_in_team(team_id)
        if role is None and perm in ("team:read", "audit:read"):
            # a member of only some projects of the team still sees the team (and its activity, filtered)
            ranks = [r for (t, p), r in self.roles.items() if t == team_id and p is not None]
            role = "viewer" if ranks else None
        return permitted(role, self.scope, perm)

    def can_platform(self, perm: str) -> bool:
        return permitted(self.role_in_team(self.default_team_id), self.scope, perm)

    def can_app(self, perm: str, app: object) -> bool:
        return self.can_project(perm, getattr(app, "project_id", None))

    def projects_with(self, perm: str) -> list[int]:
        """Project ids (in creation order) where the principal has perm."""
        return [pid for pid in sorted(self.project_teams) if self.can_project(perm, pid)]

    def teams_with(self, perm: str) -> list[int]:
        return sorted({t for t, _ in self.roles if self.can_team(perm, t)})

    def anywhere(self, perm: str) -> bool:
        return bool(self.projects_with(perm)) or any(self.can_team(perm, t) for t, _ in self.roles)
