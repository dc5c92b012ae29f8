"""What a user may type as a domain: one hostname, normalised to lower-case ASCII (IDNA 2008 punycode)."""

from __future__ import annotations

import ipaddress
import re

import idna

from slipway.errors import Invalid

LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)\Z")
MAX_NAME = 253


def normalise(raw: str) -> str:
    """`Bücher.Example.` → `xn--bcher-kva.example`; Invalid with the reason for anything that is not a
    public hostname (an IP address, one label, a bad character, too long). Wildcards are checked by the
    caller, which knows whether DNS-01 is configured."""
    name = (raw or "").strip().rstrip(".")
    if not name:
        raise Invalid("a domain name is required")
    if any(c.isspace() or c in "/:@?#\\" for c in name) or "\x00" in name:
        raise Invalid(f"invalid domain name {raw!r}", "give a hostname only, such as shop.example.com "
                      "(no scheme, port or path)")
    wildcard = name.startswith("*.")
    rest = name[2:] if wildcard else name
    try:
        ipaddress.ip_address(rest)
    except ValueError:
        pass
    else:
        raise Invalid(f"{raw!r} is an IP address", "certificates are issued for names: use a domain name")
    try:
        ascii_name = idna.encode(rest, uts46=True).decode() if not rest.isascii() or "xn--" in rest.lower() \
            else rest.lower()
    except idna.IDNAError as exc:
        raise Invalid(f"invalid domain name {raw!r}: {exc}") from None
    labels = ascii_name.split(".")
    if len(labels) < 2:
        raise Invalid(f"invalid domain name {raw!r}", "use a fully qualified name such as shop.example.com")
    for label in labels:
        if not LABEL.match(label):
            raise Invalid(f"invalid domain name {raw!r}: the label {label!r} is not allowed",
                          "labels are 1-63 letters, digits or dashes, not starting or ending with a dash")
    if labels[-1].isdigit():
        raise Invalid(f"invalid domain name {raw!r}: the last label is all digits")
    full = ("*." if wildcard else "") + ascii_name
    if len(full) > MAX_NAME:
        raise Invalid(f"invalid domain name {raw!r}: longer than {MAX_NAME} characters")
    return full


def display(name: str) -> str:
    """The Unicode form for people (`xn--bcher-kva.example` → `bücher.example`)."""
    try:
        return idna.decode(name.removeprefix("*.")) if "xn--" in name else name
    except idna.IDNAError:
        return name


def under(name: str, base: str) -> bool:
    """Whether `name` is `base` or one of its subdomains."""
    base = base.lower().rstrip(".")
    return name == base or name.endswith("." + base)
