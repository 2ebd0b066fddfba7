"""Which nodes host sandboxes (pure logic of the worker pool)."""

from __future__ import annotations

from faber_ray.actors.pool import sandbox_nodes, short_error


def node(node_id: str, alive: bool = True, **resources: float) -> dict[str, object]:
    return {"NodeID": node_id, "Alive": alive, "Resources": {"CPU": 1.0, **resources}}


def test_every_alive_node_hosts_sandboxes_when_none_is_marked() -> None:
    assert sandbox_nodes([node("a"), node("b"), node("c", alive=False)]) == ["a", "b"]


def test_only_marked_nodes_host_sandboxes_when_some_are() -> None:
    nodes = [node("head"), node("w1", faber_ray_sandbox=1), node("w2", alive=False, faber_ray_sandbox=1)]
    assert sandbox_nodes(nodes) == ["w1"]


def test_short_error_keeps_the_first_line() -> None:
    assert short_error(RuntimeError("worker died\n  traceback ...")) == "worker died"
    assert short_error(RuntimeError("")) == "RuntimeError"
