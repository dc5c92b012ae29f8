from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from slipway.db import Base, utcnow


class SshKey(Base):
    """A public key that may `git push` to the apps its owner may deploy, with the owner's current roles,
    capped by the scope (and the team) of the credential that added it."""

    __tablename__ = "ssh_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    # the user it acts as; None: registered with a host token before keys belonged to users (disabled)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True,
                                                default=None)
    name: Mapped[str] = mapped_column(String(64))
    public_key: Mapped[str] = mapped_column(Text)  # "<type> <base64>" (the comment is dropped)
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)  # SHA256:…, as ssh-keygen -l shows
    # the cap: the scope of the credential that added it (a session: admin; a token: its scope) and the
    # team a token acted in (None: every team of the user, for a key added in the dashboard)
    scope: Mapped[str] = mapped_column(String(16), default="deploy", server_default="deploy")
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), default=None)
    disabled_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(default=None)
