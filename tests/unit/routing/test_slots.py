"""slots.py: how instances are spread over a route's upstream slots, and the files a switch rewrites."""

from __future__ import annotations

import collections
import os
import stat
from pathlib import Path

from slipway.routing import slots
from slipway.routing.base import Route, RouteTable, Upstream
from slipway.routing.render import SERVER_NAME, UNAVAILABLE_SERVER, render

ADMIN = "unix//var/lib/slipway/caddy/admin.sock|0600"


def _ups(*dials: str) -> tuple[Upstream, ...]:
    return tuple(Upstream(d) for d in dials)


def test_one_instance_fills_every_slot() -> None:
    assert slots.spread(_ups("a"), slots.SLOTS) == ["a"] * slots.SLOTS


def test_equal_instances_share_the_slots_evenly_and_alternate() -> None:
    for n in (2, 3, 4, 6):
        dials = [f"127.0.0.1:{i}" for i in range(n)]
        spread = slots.spread(_ups(*dials), slots.SLOTS)
        assert len(spread) == slots.SLOTS
        assert set(collections.Counter(spread).values()) == {slots.SLOTS // n}
        assert spread[:n] == dials  # round robin over the slots alternates between instances


def test_uneven_counts_differ_by_at_most_one_slot() -> None:
    spread = slots.spread(_ups("a", "b", "c", "d", "e"), slots.SLOTS)
    assert len(spread) == slots.SLOTS
    assert sorted(collections.Counter(spread).values()) == [2, 2, 2, 3, 3]


def test_weights_become_slot_shares_and_every_live_instance_keeps_one() -> None:
    spread = slots.spread((Upstream("new", 9), Upstream("old", 3), Upstream("gone", 0)), slots.SLOTS)
    assert collections.Counter(spread) == {"new": 9, "old": 3}
    tiny = slots.spread((Upstream("big", 1000), Upstream("canary", 1)), slots.SLOTS)
    assert collections.Counter(tiny) == {"big": 11, "canary": 1}


def test_more_instances_than_slots_get_more_slots() -> None:
    many = _ups(*[f"127.0.0.1:{i}" for i in range(13)])
    assert slots.slot_count(many) == 2 * slots.SLOTS
    assert set(slots.spread(many, slots.slot_count(many))) == {u.dial for u in many}


def test_rendered_config_names_slots_not_instances(tmp_path: Path) -> None:
    """The point of slots: a deploy (other ports) or a scale within the slots renders the same config."""
    def config(*dials: str) -> dict:
        return render(RouteTable([Route("a.localhost", _ups(*dials), app="a")]), http_port=8080, https_port=8443,
                      admin=ADMIN, upstream_dir=str(tmp_path))

    before = config("127.0.0.1:1001")
    assert before == config("127.0.0.1:2002") == config("127.0.0.1:2002", "127.0.0.1:2003")
    (route,) = [r for r in before["apps"]["http"]["servers"][SERVER_NAME]["routes"] if "match" in r]
    handler = route["handle"][0]
    assert handler["load_balancing"]["selection_policy"] == {"policy": "round_robin"}
    dials = [u["dial"] for u in handler["upstreams"]]
    assert len(dials) == slots.SLOTS and all(d.startswith("{file." + str(tmp_path)) for d in dials)
    assert "1001" not in str(before)
    # no instance (stopped, not deployed yet): the same slots, pointing at Caddy's own 503 listener
    assert config() == before
    unavailable = before["apps"]["http"]["servers"][UNAVAILABLE_SERVER]
    socket = slots.unavailable_socket(tmp_path)
    assert unavailable["listen"] == [f"unix/{socket}|0600"]
    (named, catch_all) = unavailable["routes"]
    assert named["match"] == [{"host": ["a.localhost"]}] and named["handle"][0]["status_code"] == 503
    assert "The app a has no running instances" in named["handle"][0]["body"]
    assert catch_all["handle"][0]["status_code"] == 503
    empty = slots.files(RouteTable([Route("a.localhost", app="a")]), tmp_path)
    assert set(empty.values()) == {f"unix/{socket}"} and len(empty) == slots.SLOTS


def test_a_socket_path_too_long_falls_back_to_a_plain_503(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 100)
    assert slots.unavailable_socket(deep) is None
    config = render(RouteTable([Route("a.localhost", app="a")]), http_port=8080, https_port=8443, admin=ADMIN,
                    upstream_dir=str(deep))
    assert UNAVAILABLE_SERVER not in config["apps"]["http"]["servers"]
    (route,) = [r for r in config["apps"]["http"]["servers"][SERVER_NAME]["routes"] if "match" in r]
    assert route["handle"][0]["status_code"] == 503
    assert slots.files(RouteTable([Route("a.localhost", app="a")]), deep) == {}


def test_static_route_serves_a_link_swapped_at_each_deploy(tmp_path: Path) -> None:
    def config(root: str) -> dict:
        return render(RouteTable([Route("s.localhost", static_root=root)]), http_port=8080, https_port=8443,
                      admin=ADMIN, upstream_dir=str(tmp_path))

    assert config("/srv/releases/1") == config("/srv/releases/2")
    (route,) = [r for r in config("/srv/1")["apps"]["http"]["servers"][SERVER_NAME]["routes"] if "match" in r]
    site = route["handle"][0]  # the dotfile guard, then the files (see test_static_dotfiles)
    assert site["handler"] == "subroute"
    assert site["routes"][-1]["handle"][0] == {"handler": "file_server",
                                               "root": str(slots.root_path(tmp_path, Route("s.localhost")))}


def test_files_write_atomically_owner_only_and_prune(tmp_path: Path) -> None:
    folder = tmp_path / "upstreams"
    a, b = Route("a.localhost", _ups("127.0.0.1:1")), Route("b.localhost", _ups("127.0.0.1:2", "127.0.0.1:3"))
    site = Route("s.localhost", static_root="/srv/v1")
    wanted = slots.files(RouteTable([a, b, site]), folder)
    assert len(wanted) == 2 * slots.SLOTS + 1
    assert len(slots.write(folder, wanted)) == 2 * slots.SLOTS + 1
    assert os.readlink(slots.root_path(folder, site)) == "/srv/v1"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert slots.slot_path(folder, b, 1).read_text() == "127.0.0.1:3"
    assert slots.write(folder, wanted) == {}  # unchanged files are not rewritten
    moved = slots.files(RouteTable([Route("a.localhost", _ups("127.0.0.1:9"))]), folder)
    previous = slots.write(folder, moved)
    assert set(previous.values()) == {"127.0.0.1:1"} and slots.slot_path(folder, a, 0).read_text() == "127.0.0.1:9"
    slots.restore(previous)
    assert slots.slot_path(folder, a, 0).read_text() == "127.0.0.1:1"
    only_a = slots.files(RouteTable([a]), folder)
    slots.prune(folder, keep=only_a)
    assert sorted(folder.iterdir()) == sorted(only_a)
    assert not list(folder.glob(".slot-*"))


def test_route_keys_are_digests_of_host_and_path() -> None:
    key = slots.route_key(Route("A.localhost"))
    assert key == slots.route_key(Route("a.localhost")) and len(key) == 32 and key.isalnum()
    assert key != slots.route_key(Route("a.localhost", path_prefix="/api"))


def test_a_hostile_host_or_path_never_reaches_a_file_name_or_placeholder(tmp_path: Path) -> None:
    """Hosts come from app names and users' domains: only their digest is used, so no `}` ends Caddy's
    placeholder early and no `/..` leaves the slot directory."""
    hostile = Route("a}.{file./etc/shadow}/../../x", (Upstream("127.0.0.1:1"),), path_prefix="/../../etc")
    assert slots.slot_path(tmp_path, hostile, 0).parent == tmp_path
    text = slots.placeholder(tmp_path, hostile, 0)
    assert text.count("{") == 1 and text.count("}") == 1 and "shadow" not in text and ".." not in text
