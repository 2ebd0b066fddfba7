"""Which nodes host sandboxes (pure logic of the worker pool)."""

from __future__ import annotations

from faber_ray.actors.pool import sandbox_nodes
from faber_ray.errors import short_error


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


def test_short_error_names_what_a_failed_actor_creation_raised() -> None:
    """Ray reports an actor whose __init__ raised as a preamble and a traceback; the reason is the error."""

    class ActorDied(Exception):
        error_msg = (
            "The actor died because of an error raised in its creation task, \x1b[36mray::SandboxWorker.__init__()"
            "\x1b[39m (pid=1, ip=10.0.0.1)\n  File \"worker.py\", line 3, in __init__\n"
            "faber_ray.errors.SandboxError: the sandbox agent must be compiled once, but no C compiler was found; "
            "install a C compiler and static libc (Debian: apt-get install gcc libc6-dev)\n  more lines"
        )

    assert short_error(ActorDied()) == (
        "the sandbox agent must be compiled once, but no C compiler was found; "
        "install a C compiler and static libc (Debian: apt-get install gcc libc6-dev)"
    )
    assert short_error(RuntimeError("boom\nTraceback\ndocker.errors.DockerException: no engine")) == "no engine"
