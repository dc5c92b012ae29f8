"""Signatures of the generic webhook channel, and how a receiver verifies them.

Every POST carries
    X-Slipway-Timestamp: <unix seconds>
    X-Slipway-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>." + raw body)>
    X-Slipway-Delivery:  <delivery id>   (the same on every retry of one message: use it to drop duplicates)

A receiver verifies, in this order:
  1. recompute the HMAC over the timestamp, a dot and the *raw* request body bytes (before any JSON
     parsing) with the shared secret, and compare it to the header in constant time;
  2. refuse a timestamp more than 5 minutes from its clock (a captured request cannot be replayed later);
  3. optionally remember X-Slipway-Delivery for those 5 minutes and ignore a repeat.
`verify()` below is that procedure; it has no dependency beyond the standard library, copy it freely.
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-Slipway-Signature"
TIMESTAMP_HEADER = "X-Slipway-Timestamp"
DELIVERY_HEADER = "X-Slipway-Delivery"
EVENT_HEADER = "X-Slipway-Event"
TOLERANCE = 300.0


def sign(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(secret: str, *, body: bytes, timestamp: str, signature: str, now: float | None = None,
           tolerance: float = TOLERANCE) -> bool:
    if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > 15:
        return False
    if abs((time.time() if now is None else now) - int(timestamp)) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, int(timestamp), body), signature)
