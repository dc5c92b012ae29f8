"""/api/v1: health and identity."""

from __future__ import annotations

from fastapi import APIRouter

from slipway import __version__
from slipway.web.deps import CurrentPrincipal

router = APIRouter(prefix="/api/v1", tags=["auth"])


@router.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok", "version": __version__}


@router.get("/whoami")
def whoami(who: CurrentPrincipal) -> dict[str, str]:
    return {"kind": who.kind, "name": who.name}
