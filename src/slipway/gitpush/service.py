"""What a `git push` to an app does, ref by ref: deploy it, store it, or refuse it."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy.orm import Session

from slipway import events
from slipway.apps.models import App
from slipway.deploys import service as deploy_service
from slipway.deploys.models import Deploy
from slipway.errors import Invalid

ZERO = re.compile(r"^0+\Z")
SHA = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})\Z")


@dataclass
class Verdict:
    action: str  # deploy | store | reject
    message: str
    deploy: Deploy | None = None


def receive(session: Session, app: App, *, ref: str, old: str, new: str, actor: str) -> Verdict:
    """Decide one pushed ref update. Only the app's branch deploys; a deploy is queued here and the push waits
    for it (the caller follows its log); other branches are kept in the repository without a deploy."""
    for what, value in (("old", old), ("new", new)):
        if not SHA.match(value or ""):
            raise Invalid(f"{what} must be a full hexadecimal object id, got {value[:80]!r}")
    if not ref.startswith("refs/heads/") or len(ref) > 255:
        return Verdict("store", f"{ref}: not a branch, kept without a deploy")
    branch = ref.removeprefix("refs/heads/")
    deleting = bool(ZERO.match(new))
    if branch != app.branch:
        what = "deleted" if deleting else "kept"
        return Verdict("store", f"{branch}: {what}; only {app.branch} deploys {app.name}")
    if deleting:
        return Verdict("reject", f"{branch} is {app.name}'s deploy branch: it cannot be deleted")
    if app.image:
        return Verdict("reject", f"{app.name} runs the prebuilt image {app.image}: there is nothing to build "
                                 "(`slipway apps update --image ''` builds from git again)")
    deploy = deploy_service.request(session, app, kind="deploy", commit=new, actor=actor, source="push")
    events.emit(session, "git.pushed", app_id=app.id, actor=actor, ref=ref, old=old, new=new, deploy_id=deploy.id)
    return Verdict("deploy", f"deploying {new[:12]} to {app.name}", deploy)
