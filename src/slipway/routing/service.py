"""The route table, rendered from the database alone, so a restarted router is rebuilt exactly."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from slipway.apps.models import App
from slipway.config import Settings
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


def table(session: Session, settings: Settings) -> RouteTable:
    routes = [Route(host=f"slipway.{settings.base_domain}", upstreams=(Upstream(settings.listen),),
                    app=None)]
    for app in session.scalars(select(App).order_by(App.name)):
        host = host_for(settings, app)
        release = session.get(Release, app.live_release_id) if app.live_release_id else None
        if release is None or app.desired_state != "running":
            routes.append(Route(host=host, app=app.name))
            continue
        static_root = release.config.get("static_root")
        if static_root:
            routes.append(Route(host=host, static_root=static_root, app=app.name))
            continue
        ports = session.scalars(
            select(Instance.port).where(Instance.release_id == release.id, Instance.process_type == "web",
                                        Instance.status == "running").order_by(Instance.created_at)
        )
        routes.append(Route(host=host, upstreams=tuple(Upstream(f"127.0.0.1:{p}") for p in ports if p),
                            app=app.name))
    return RouteTable(routes)


def apply(platform: Platform) -> None:
    with platform.sessions() as session:
        routes = table(session, platform.settings)
    platform.router.apply(routes)
