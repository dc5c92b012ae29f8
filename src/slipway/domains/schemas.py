"""In and out of /api/v1/apps/{name}/domains and /api/v1/certs."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field


class DomainIn(BaseModel):
    name: str = Field(max_length=300, description="The hostname; Unicode names are stored as punycode.")
    redirect_from: str | None = Field(None, max_length=300, description="A second name that redirects here "
                                      "(e.g. www.shop.example.com).")
    https_redirect: bool = Field(True, description="Redirect HTTP to HTTPS once a certificate is served.")
    hsts: bool = Field(False, description="Send Strict-Transport-Security over HTTPS.")


class DomainPatch(BaseModel):
    https_redirect: bool | None = None
    hsts: bool | None = None


class FindingOut(BaseModel):
    check: str
    ok: bool
    message: str
    fix: str = ""


class RecordOut(BaseModel):
    type: str
    name: str
    value: str


class CertificateOut(BaseModel):
    source: str  # acme | uploaded
    served: bool  # the router presents a certificate for this name that matches what is expected
    issuer: str | None = None
    not_after: dt.datetime | None = None
    days_left: int | None = None
    checked_at: dt.datetime | None = None
    last_error: str | None = None


class DomainOut(BaseModel):
    name: str
    display_name: str
    app: str
    redirect_to: str | None = None
    dns_status: str  # unchecked | ok | failed
    findings: list[FindingOut] = []
    checked_at: dt.datetime | None = None
    https_redirect: bool
    hsts: bool
    records: list[RecordOut] = []
    certificate: CertificateOut
    created_at: dt.datetime


class CertUpload(BaseModel):
    cert: str = Field(max_length=200_000, description="PEM: the certificate, then its intermediates.")
    key: str = Field(max_length=50_000, description="PEM: the private key (stored encrypted).")


class ServedCertOut(BaseModel):
    hostname: str
    app: str | None = None
    kind: str  # app | domain | dashboard
    expected: str  # acme | uploaded | pending (app hosts: the base domain's doctor has not passed) | none
    ok: bool
    issuer: str | None = None
    subject: str | None = None
    not_after: dt.datetime | None = None
    days_left: int | None = None
    fingerprint: str | None = None
    error: str | None = None
