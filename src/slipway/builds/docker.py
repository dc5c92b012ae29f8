"""Builds for the docker runtime: an image from the app's Dockerfile, or a prebuilt image as is.

The artifact of a docker release is an image: tagged `slipway/<app>:<version>`, run by its id, so a
rollback runs exactly the old image with no rebuild. Build configuration comes from slipway.toml's
[docker] table, overridden key by key by what was set through the API/CLI (`apps build-config`).

Secrets: the app's env vars are never passed to a build. A build arg gets an env var's value only when
the app names it in `build_args_from_env`, and its value is then redacted from the deploy log (note that
Docker records build arg values in the image's history: runtime secrets belong in env vars, not there).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slipway import errors
from slipway.builds import paths
from slipway.builds.base import Log
from slipway.builds.config import AppConfig, load_procfile, load_slipway_toml
from slipway.runtimes.docker import DockerRuntime

KEYS = {"dockerfile", "context", "target", "build_args", "build_args_from_env", "cache", "port"}
DEFAULT_PORT = 8000


@dataclass
class DockerBuildConfig:
    dockerfile: str = "Dockerfile"  # relative to the repository root
    context: str = "."  # relative to the repository root
    target: str | None = None  # a stage of a multi-stage Dockerfile
    build_args: dict[str, str] = field(default_factory=dict)
    build_args_from_env: list[str] = field(default_factory=list)  # env vars the app allows into the build
    cache: bool = True
    # where the app listens inside the container ($PORT is set to it); None: the image's single EXPOSE,
    # else DEFAULT_PORT (see container_port)
    port: int | None = None

    @classmethod
    def merged(cls, declared: dict[str, Any], overrides: dict[str, Any]) -> DockerBuildConfig:
        data = {**declared, **{k: v for k, v in overrides.items() if v is not None}}
        return cls(**validate(data))


def validate(data: dict[str, Any], *, what: str = "docker build config") -> dict[str, Any]:
    """Checked build config (the API and slipway.toml share these rules). Raises Invalid."""
    unknown = sorted(set(data) - KEYS)
    if unknown:
        raise errors.Invalid(f"{what}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(KEYS))}")
    out: dict[str, Any] = {}
    for key in ("dockerfile", "context"):
        if key in data:
            value = data[key]
            if not isinstance(value, str) or not value or os.path.isabs(value) or ".." in Path(value).parts:
                raise errors.Invalid(f"{what}: {key} must be a relative path inside the repository")
            out[key] = value
    if data.get("target") is not None:
        if not isinstance(data["target"], str) or not data["target"].strip():
            raise errors.Invalid(f"{what}: target must be a stage name")
        out["target"] = data["target"].strip()
    if "build_args" in data:
        args = data["build_args"]
        if not isinstance(args, dict) or not all(isinstance(k, str) and isinstance(v, str | int | float)
                                                 for k, v in args.items()):
            raise errors.Invalid(f"{what}: build_args must map names to values")
        out["build_args"] = {k: str(v) for k, v in args.items()}
    if "build_args_from_env" in data:
        names = data["build_args_from_env"]
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise errors.Invalid(f"{what}: build_args_from_env must be a list of env var names")
        out["build_args_from_env"] = list(names)
    if "cache" in data:
        if not isinstance(data["cache"], bool):
            raise errors.Invalid(f"{what}: cache must be true or false")
        out["cache"] = data["cache"]
    if "port" in data:
        port = data["port"]
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
            raise errors.Invalid(f"{what}: port must be a TCP port number")
        out["port"] = port
    return out


@dataclass
class DockerBuild:
    kind: str  # dockerfile | image
    image_id: str
    config: dict[str, Any]  # the release config (processes, health, limits, runtime, image…)


def build(runtime: DockerRuntime, source: Path, *, tag: str, overrides: dict[str, Any], env: dict[str, str],
          log: Log, timeout: float, redact: Any = None) -> DockerBuild:
    """`docker build` of the app's Dockerfile through the engine API; output streams into `log`."""
    app_config = _app_config(source)
    config = DockerBuildConfig.merged(app_config.docker, overrides)
    # both resolve inside the checkout or the build stops here, before the engine (or its error
    # messages, which quote Dockerfile lines) sees a byte of what they point at
    context = paths.inside(source, config.context, what="build context")
    dockerfile = paths.inside(source, config.dockerfile, what="Dockerfile")
    if not context.is_dir():
        raise errors.BuildError(f"build context {config.context!r} is not a directory of the repository")
    if not dockerfile.is_file():
        raise errors.BuildError(
            f"no Dockerfile at {config.dockerfile!r}: the docker runtime builds apps from a Dockerfile",
            "add a Dockerfile to the repository, point `slipway apps build-config --dockerfile` at it, "
            "deploy a prebuilt image with `slipway deploy APP --image REF`, or use the local runtime "
            "(`slipway apps update APP --runtime local`) for buildpack-style builds")
    # the context is sent to the engine as a tar of links and files: no link in it may lead out
    paths.drop_escaping_links(source, log)
    build_args = dict(config.build_args)
    missing = [name for name in config.build_args_from_env if name not in env]
    if missing:
        raise errors.BuildError(f"build_args_from_env names env vars the app does not have: {', '.join(missing)}")
    secret_values = [env[name] for name in config.build_args_from_env]
    build_args.update({name: env[name] for name in config.build_args_from_env})
    if redact is not None and secret_values:
        redact(secret_values)
    log(f"==> docker build: {config.dockerfile} (context {config.context}"
        + (f", target {config.target}" if config.target else "") + (", no cache" if not config.cache else "")
        + (f", build args {', '.join(sorted(build_args))}" if build_args else "") + ")")
    image_id = _stream_build(runtime, context=context, dockerfile=str(dockerfile.relative_to(context))
                             if dockerfile.is_relative_to(context) else str(dockerfile),
                             tag=tag, build_args=build_args, target=config.target, cache=config.cache, log=log,
                             timeout=timeout)
    log(f"==> built {tag} ({image_id[:19]})")
    image = runtime.call(f"inspect the image {tag}", lambda: runtime.client.images.get(image_id))
    port = container_port(config.port, image.attrs, log)
    return DockerBuild("dockerfile", image_id, _release_config(app_config, source, image_id, port))


def container_port(declared: int | None, image_attrs: dict[str, Any], log: Log) -> int:
    """The port the app listens on inside its container: `[docker] port` (or `apps build-config --port`)
    when set, else the one port the image EXPOSEs (an app that ignores $PORT then just works), else 8000."""
    if declared:
        return declared
    exposed = sorted({int(key.split("/")[0]) for key in ((image_attrs.get("Config") or {}).get("ExposedPorts") or {})
                      if key.split("/")[0].isdigit() and key.partition("/")[2] in ("", "tcp")})
    if len(exposed) == 1:
        log(f"==> the image EXPOSEs {exposed[0]}: the app's port ($PORT={exposed[0]}; [docker] port overrides it)")
        return exposed[0]
    if exposed:
        log(f"==> the image EXPOSEs {', '.join(map(str, exposed))}: $PORT={DEFAULT_PORT} is the app's port; "
            "set [docker] port in slipway.toml to the one that serves HTTP")
    return DEFAULT_PORT


def prebuilt(runtime: DockerRuntime, ref: str, *, port: int | None, log: Log) -> DockerBuild:
    """A prebuilt image, run as is (its own CMD) with no build. It must be known to the engine."""
    try:
        image = runtime.call(f"find the image {ref}", lambda: runtime.client.images.get(ref))
    except errors.NotFound:
        log(f"==> {ref} is not in the engine's images: pulling it")
        try:
            image = runtime.call(f"pull {ref}", lambda: runtime.client.images.pull(ref))
        except errors.SlipwayError as exc:
            raise errors.DeployError(f"image {ref} is not available: {exc.message}", exc.detail) from exc
    log(f"==> using the prebuilt image {ref} ({image.id[:19]}), no build")
    config = _release_config(AppConfig(), None, image.id, container_port(port, image.attrs, log))
    return DockerBuild("image", image.id, config)


def image_exists(runtime: DockerRuntime, ref: str) -> bool:
    try:
        runtime.call(f"find the image {ref}", lambda: runtime.client.images.get(ref))
    except errors.NotFound:
        return False
    return True


def tag(runtime: DockerRuntime, image_id: str, repository: str, version: str) -> str:
    image = runtime.call(f"find the image {image_id}", lambda: runtime.client.images.get(image_id))
    runtime.call(f"tag {repository}:{version}", lambda: image.tag(repository, version))
    return f"{repository}:{version}"


def untag(runtime: DockerRuntime, ref: str) -> bool:
    """Remove a tag (the image goes once no tag or container holds it). False if the engine refused."""
    try:
        runtime.call(f"remove the image {ref}", lambda: runtime.client.images.remove(ref, noprune=False))
    except errors.NotFound:
        return True
    except errors.SlipwayError:
        return False
    return True


# ---- helpers -----------------------------------------------------------------------------------


def _app_config(source: Path) -> AppConfig:
    config = load_slipway_toml(source) or AppConfig()
    if config.docker:
        try:
            config.docker = validate(config.docker, what="slipway.toml [docker]")
        except errors.Invalid as exc:
            raise errors.BuildError(exc.message) from exc
    return config


def _release_config(app_config: AppConfig, source: Path | None, image_id: str, port: int) -> dict[str, Any]:
    """Processes: the Procfile and slipway.toml when the repository has them, else `web` = the image's CMD."""
    processes = dict(load_procfile(source) or {}) if source is not None else {}
    release_command = processes.pop("release", None)
    processes.update(app_config.processes)
    if not processes:
        processes = {"web": ""}  # empty command: the image's own ENTRYPOINT/CMD
    return {
        "runtime": "docker",
        "image_id": image_id,
        "container_port": port,
        "processes": processes,
        "release_command": app_config.release_command or release_command,
        "health_path": app_config.health_path or "/",
        "health_timeout": app_config.health_timeout,
        "static_root": None,
        "env": {},
        "limits": app_config.limits,
        "cron": app_config.cron,
    }


def _stream_build(runtime: DockerRuntime, *, context: Path, dockerfile: str, tag: str, build_args: dict[str, str],
                  target: str | None, cache: bool, log: Log, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    image_id: str | None = None
    errors_seen: list[str] = []

    def run() -> str | None:
        nonlocal image_id
        chunks = runtime.client.api.build(
            path=str(context), dockerfile=dockerfile, tag=tag, buildargs=build_args or None, target=target,
            nocache=not cache, rm=True, forcerm=True, pull=False, decode=True, timeout=int(timeout))
        partial = ""
        for chunk in chunks:
            if "error" in chunk:
                errors_seen.append(str(chunk.get("error")).strip())
                log(f"!! {chunk['error']}".rstrip())
            if "stream" in chunk:
                partial += str(chunk["stream"])
                *lines, partial = partial.split("\n")
                for line in lines:
                    if line.strip():
                        log(line.rstrip())
            aux = chunk.get("aux")
            if isinstance(aux, dict) and aux.get("ID"):
                image_id = str(aux["ID"])
            if time.monotonic() > deadline:
                raise errors.BuildError(f"docker build timed out after {timeout:g} s")
        if partial.strip():
            log(partial.rstrip())
        return image_id

    runtime.call("build the image", run)
    if errors_seen:
        raise errors.BuildError("docker build failed", errors_seen[-1])
    image = runtime.call(f"find the built image {tag}", lambda: runtime.client.images.get(tag))
    return str(image.id)
