"""Dashboard tab of an app's custom domains: the records to create, the doctor's findings and the certificate
served for each name; add, check, remove. The same service calls as /api/v1/apps/{name}/domains."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, Response

from slipway.apps import service as app_service
from slipway.domains import checks, service
from slipway.domains.api import domain_out
from slipway.domains.checks import add_and_check
from slipway.errors import SlipwayError
from slipway.web.deps import AccessDep, PlatformDep
from slipway.web.pages import Actor, PageRoute, Viewer, redirect, render

router = APIRouter(route_class=PageRoute, include_in_schema=False)


@router.get("/apps/{name}/domains")
def domains_page(name: str, request: Request, platform: PlatformDep, _: Viewer) -> Response:
    with platform.sessions() as session:
        app = app_service.get(session, name)
        domains = [domain_out(session, platform, d) for d in service.list_for(session, app)]
    return render(request, "domains/domains.html", app={"name": name}, domains=domains,
                  https_port=platform.settings.https_port)


@router.post("/apps/{name}/domains")
def add_domain(name: str, platform: PlatformDep, who: Actor, access: AccessDep,
               domain: Annotated[str, Form(max_length=300)] = "",
               redirect_from: Annotated[str, Form(max_length=300)] = "",
               hsts: Annotated[bool, Form()] = False) -> Response:
    here = f"/apps/{name}/domains"
    try:
        added = add_and_check(platform, name, domain, redirect_from=redirect_from.strip() or None, hsts=hsts,
                              actor=who.actor, can_see=lambda other: access.can_app("app:read", other))
    except SlipwayError as exc:
        return redirect(here, flash=exc.message + (f" ({exc.detail})" if isinstance(exc.detail, str) else ""),
                        kind="error")
    return redirect(here, flash=f"Added {added[0]}: see below what the domain doctor found.")


@router.post("/apps/{name}/domains/{domain}/check")
def check_domain(name: str, domain: str, platform: PlatformDep, who: Actor) -> Response:
    try:
        checks.check_now(platform, name, domain, actor=who.actor)
    except SlipwayError as exc:
        return redirect(f"/apps/{name}/domains", flash=exc.message, kind="error")
    return redirect(f"/apps/{name}/domains", flash=f"Checked {domain}.")


@router.post("/apps/{name}/domains/{domain}/remove")
def remove_domain(name: str, domain: str, platform: PlatformDep, who: Actor) -> Response:
    try:
        removed = checks.remove(platform, name, domain, actor=who.actor)
    except SlipwayError as exc:
        return redirect(f"/apps/{name}/domains", flash=exc.message, kind="error")
    return redirect(f"/apps/{name}/domains", flash=f"Removed {', '.join(removed)}.")
