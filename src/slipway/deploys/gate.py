"""The health gate: a release gets traffic only once its new instances answer."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

from slipway.deploys.models import Release
from slipway.errors import DeployError
from slipway.instances.models import Instance
from slipway.platform import Platform

CRASHED = ("backoff", "crashloop", "stopped", "missing")


def wait_until_healthy(platform: Platform, release: Release, new: list[Instance], *,
                       log: Callable[[str], None]) -> None:
    """Every new web instance answers its health check (status < 500); every other one is up.

    Raises DeployError, with the instance's last output, when one crashes or time runs out."""
    path = release.config.get("health_path") or "/"
    timeout = release.config.get("health_timeout") or platform.settings.health_timeout
    deadline = time.monotonic() + timeout
    waiting = {i.id: i for i in new if i.process_type == "web"}
    runtimes = {i.id: platform.runtime_for(i.runtime or "local") for i in new}
    with httpx.Client(timeout=2.0) as client:
        while waiting:
            for instance_id, instance in list(waiting.items()):
                state = runtimes[instance_id].state(instance_id)
                if state.status in CRASHED or state.restarts > 0:
                    tail = "\n".join(runtimes[instance_id].logs(instance_id, 20))
                    raise DeployError(f"{instance_id} crashed before it became healthy "
                                      f"({state.last_exit_reason or state.status})", tail)
                try:
                    response = client.get(f"http://127.0.0.1:{instance.port}{path}")
                except httpx.HTTPError:
                    continue
                if response.status_code < 500:
                    log(f"{instance_id} is healthy (GET {path} → {response.status_code})")
                    del waiting[instance_id]
            if not waiting:
                break
            if time.monotonic() > deadline:
                tails = "\n".join(line for i in waiting for line in runtimes[i].logs(i, 20))
                raise DeployError(
                    f"no healthy answer on GET {path} within {timeout:.0f}s "
                    "(is the app listening on $PORT?)", tails)
            time.sleep(0.05)
    # other process types have no endpoint: they must at least be up
    for instance in new:
        state = runtimes[instance.id].state(instance.id)
        if state.status in CRASHED:
            raise DeployError(f"{instance.id} exited at start ({state.last_exit_reason or state.status})",
                              "\n".join(runtimes[instance.id].logs(instance.id, 20)))
