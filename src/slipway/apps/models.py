from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from slipway.db import Base, utcnow


class App(Base):
    __tablename__ = "apps"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True)
    git_url: Mapped[str] = mapped_column(String(2048))
    branch: Mapped[str] = mapped_column(String(255), default="main")
    runtime: Mapped[str] = mapped_column(String(32), default="local")
    # docker runtime: a prebuilt image to run (no git, no build), and how to build from a Dockerfile
    image: Mapped[str | None] = mapped_column(String(1024), default=None)
    docker_build: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # per process type: {"web": {"memory": bytes, "memory_reservation": bytes, "cpus": 0.5, ...}}
    limits: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # what the operator asked for: "running" or "stopped" (stop/start survive restarts of Slipway)
    desired_state: Mapped[str] = mapped_column(String(16), default="running")
    scale: Mapped[dict[str, int]] = mapped_column(default=dict)
    # the project (and so the team) it belongs to; None: the "default" project
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id", ondelete="RESTRICT"), default=None,
                                                   index=True)
    # no foreign key: releases reference apps, and a cycle would complicate migrations for nothing
    live_release_id: Mapped[int | None] = mapped_column(default=None)
    # the deploy currently allowed to change this app (one at a time); None when idle
    deploy_lock: Mapped[int | None] = mapped_column(default=None)
    # "production", or "preview": a pull request's environment (see slipway/previews), hidden from app lists
    environment: Mapped[str] = mapped_column(String(16), default="production")
    parent_app_id: Mapped[int | None] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), default=None,
                                                      index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class EnvVar(Base):
    __tablename__ = "env_vars"
    __table_args__ = (UniqueConstraint("app_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(255))
    value_enc: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
