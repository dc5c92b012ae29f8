"""Pure pieces of the docker runtime and its build config (the engine itself is tested in integration)."""

from __future__ import annotations

import pytest

from slipway.builds.docker import DockerBuildConfig, validate
from slipway.errors import Invalid, Unavailable
from slipway.runtimes.base import OOM_REASON
from slipway.runtimes.docker import Death, DockerRuntime, _describe, _split_timestamp, _unix


def test_engine_timestamps() -> None:
    assert _unix("2026-11-22T04:37:25.947011406Z") == pytest.approx(_unix("2026-11-22T04:37:25Z") + 0.947011, abs=1e-5)  # type: ignore[operator]
    assert _unix("0001-01-01T00:00:00Z") is None
    assert _unix("") is None and _unix("garbage") is None
    when, line = _split_timestamp("2026-11-22T04:37:27Z GET / 200")
    assert line == "GET / 200" and when == _unix("2026-11-22T04:37:27Z")
    _, raw = _split_timestamp("no timestamp here")
    assert raw == "no timestamp here"


def test_exit_reasons() -> None:
    assert _describe(Death(137, oom=True)) == OOM_REASON
    assert _describe(Death(137, oom=True, inferred=True)).startswith(OOM_REASON)
    assert _describe(Death(143, oom=False)) == "killed by signal 15 (exit code 143)"
    assert _describe(Death(3, oom=False)) == "exited with code 3"


def test_unreachable_engine_is_a_clear_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    runtime = DockerRuntime(f"unix://{tmp_path}/nothing.sock", timeout=2)
    assert runtime.ping() is False
    with pytest.raises(Unavailable) as caught:
        runtime.state("web-1")
    assert "unreachable" in caught.value.message and str(tmp_path) in caught.value.message


def test_build_config_merges_and_validates() -> None:
    config = DockerBuildConfig.merged({"dockerfile": "docker/Dockerfile", "target": "prod", "cache": True},
                                      {"cache": False, "build_args": {"A": 1}})
    assert (config.dockerfile, config.target, config.cache, config.build_args) == \
        ("docker/Dockerfile", "prod", False, {"A": "1"})
    assert config.port is None and config.build_args_from_env == []  # None: the image's EXPOSE, else 8000
    for bad in ({"dockerfile": "../etc/passwd"}, {"context": "/abs"}, {"cache": "yes"}, {"port": 0},
                {"build_args": ["A"]}, {"secrets": True}, {"build_args_from_env": "TOKEN"}):
        with pytest.raises(Invalid):
            validate(bad)


def test_partial_writes_stamped_by_podman_are_mended() -> None:
    from slipway.runtimes.docker import _mend_partials

    stamp = "2026-11-22T05:01:28Z "
    assert _mend_partials(f"{stamp}listening on2026-11-22T05:01:29Z  2026-11-22T05:01:29Z 8000") == \
        f"{stamp}listening on 8000"
    assert _mend_partials(f"{stamp}{stamp}app's own stamp") == f"{stamp}{stamp}app's own stamp"
    assert _mend_partials("no stamp") == "no stamp"


def test_the_container_port_is_declared_or_the_images_single_expose() -> None:
    from slipway.builds.docker import DEFAULT_PORT, container_port

    lines: list[str] = []
    one = {"Config": {"ExposedPorts": {"8080/tcp": {}}}}
    assert container_port(None, one, lines.append) == 8080 and "EXPOSEs 8080" in lines[-1]
    assert container_port(3000, one, lines.append) == 3000  # [docker] port wins
    several = {"Config": {"ExposedPorts": {"8080/tcp": {}, "9090/tcp": {}, "53/udp": {}}}}
    assert container_port(None, several, lines.append) == DEFAULT_PORT and "[docker] port" in lines[-1]
    assert container_port(None, {"Config": {"ExposedPorts": {"53/udp": {}}}}, lines.append) == DEFAULT_PORT
    assert container_port(None, {"Config": {"ExposedPorts": None}}, lines.append) == DEFAULT_PORT
    assert container_port(None, {}, lines.append) == DEFAULT_PORT
