"""Slipway: deploy web apps from git onto your own servers."""

__version__ = "0.1.0"
