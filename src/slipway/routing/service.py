"""The route table, rendered from the database alone, so a restarted router is rebuilt exactly."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from slipway.apps.models import App
from slipway.config import Settings
from slipway.crypto import Box
from slipway.deploys.models import Release
from slipway.instances.models import Instance
from slipway.platform import Platform
from slipway.routing.base import Route, RouteTable, Upstream


def app_host(settings: Settings, app_name: str) -> str:
    return f"{app_name}.{settings.base_domain}"


def app_url(settings: Settings, app_name: str) -> str:
    return f"http://{app_host(settings, app_name)}:{settings.http_port}/"


def host_for(settings: Settings, app: App) -> str:
    """`<app>.<base>`; a pull request's preview `<app>--pr-<n>` answers at `pr-<n>.<app>.<base>`."""
    if app.environment == "preview" and "--" in app.name:
        parent, _, env = app.name.rpartition("--")
        return f"{env}.{parent}.{settings.base_domain}"
    return app_host(settings, app.name)


def url_for(settings: Settings, app: App) -> str:
    return f"http://{host_for(settings, app)}:{settings.http_port}/"


def table(session: Session, settings: Settings, box: Box | None = None) -> RouteTable:
    """The whole table; with `box` (to read uploaded certificates) also custom domains and HTTPS."""
    routes = [Route(host=f"slipway.{settings.base_domain}", upstreams=(Upstream(settings.listen),),
                    app=None)]
    by_app: dict[int, Route] = {}
    for app in session.scalars(select(App).order_by(App.name)):
        by_app[app.id] = _app_route(session, settings, app)
        routes.append(by_app[app.id])
    if box is None:
        return RouteTable(routes)
    from slipway.domains import routes as domain_routes

    more, tls = domain_routes.extend(session, settings, box, by_app)
    return RouteTable(routes + more, tls=tls)


def _app_route(session: Session, settings: Settings, app: App) -> Route:
    host = host_for(settings, app)
    release = session.get(Release, app.live_release_id) if app.live_release_id else None
    if release is None or app.desired_state != "running":
        return Route(host=host, app=app.name)
    static_root = release.config.get("static_root")
    if static_root:
        return Route(host=host, static_root=static_root, app=app.name)
    ports = session.scalars(
        select(Instance.port).where(Instance.release_id == release.id, Instance.process_type == "web",
                                    Instance.status == "running").order_by(Instance.created_at)
    )
    return Route(host=host, upstreams=tuple(Upstream(f"127.0.0.1:{p}") for p in ports if p), app=app.name)


def apply(platform: Platform) -> None:
    with platform.sessions() as session:
        routes = table(session, platform.settings, platform.box)
    platform.router.apply(routes)
