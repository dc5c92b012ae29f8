"""Checks at the edge for names and keys users type."""

from __future__ import annotations

import re

from slipway.errors import Invalid

APP_NAME = re.compile(r"^[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?\Z")
ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")
# set by Slipway for every instance; a user value would be silently overridden, so refuse it
RESERVED_ENV = {"PORT", "SLIPWAY_APP", "SLIPWAY_RELEASE", "SLIPWAY_PROCESS_TYPE", "SLIPWAY_INSTANCE"}
MAX_ENV_VALUE = 32 * 1024


def app_name(name: str) -> str:
    if not APP_NAME.match(name or ""):
        raise Invalid(
            f"invalid app name {name!r}",
            "use lowercase letters, digits and dashes, start with a letter, end with a letter or digit, "
            "at most 63 characters",
        )
    return name


def env_key(key: str) -> str:
    if not ENV_KEY.match(key or "") or len(key) > 255:
        raise Invalid(f"invalid env var name {key!r}",
                      "use letters, digits and underscores, not starting with a digit")
    if key in RESERVED_ENV:
        raise Invalid(f"{key} is set by Slipway and cannot be overridden")
    return key


def env_value(key: str, value: str) -> str:
    if "\x00" in value:
        raise Invalid(f"the value of {key} contains a NUL byte")
    if len(value) > MAX_ENV_VALUE:
        raise Invalid(f"the value of {key} is longer than {MAX_ENV_VALUE} bytes")
    return value


PROCESS_TYPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}\Z")


def process_type(name: str) -> str:
    if not PROCESS_TYPE.match(name or ""):
        raise Invalid(f"invalid process type {name!r}", "letters, digits, '-' and '_', as in the Procfile")
    return name
