"""The local runtime: each instance is a process under its own detached supervisor."""

from slipway.runtimes.local.policy import RestartPolicy
from slipway.runtimes.local.runtime import LocalRuntime

__all__ = ["LocalRuntime", "RestartPolicy"]
