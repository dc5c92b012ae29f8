"""Exits at start, as an app does when a setting it needs is missing."""

import os
import sys

if "DATABASE_URL" not in os.environ:
    print("DATABASE_URL is not set: cannot start", file=sys.stderr, flush=True)
    sys.exit(3)
