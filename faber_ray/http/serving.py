"""Putting the HTTP app on Ray Serve, and taking it off: what ``faber-ray serve`` does to a cluster.

Serve's HTTP proxy runs on the head node only, and its host and port are
fixed when Serve starts: a later ``serve.start`` with other options is ignored.
So before deploying, ``serve`` asks what is there: a Serve already running
(``running_serve``: where it really listens), faber-ray's app already on it
(``app_is_deployed``: a second ``serve`` must not take over the first one's
app), and whether the port is free on the head node, where the proxy would
bind it (``port_problem_on_head``).
"""

from __future__ import annotations

import errno
import logging
import socket
from dataclasses import dataclass

import ray
from ray import serve
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from faber_ray.actors.options import NAMESPACE
from faber_ray.http.app import DEFAULT_MAX_BODY_BYTES, DEFAULT_WAIT_LIMIT, HTTPFrontDoor
from faber_ray.http.auth import TokenTable

__all__ = [
    "APP_NAME", "Listening", "app_is_deployed", "deploy", "port_problem", "port_problem_on_head", "running_serve",
    "serve_is_running", "undeploy",
]

#: The Serve application's name (one per cluster: a second ``serve`` is refused).
APP_NAME = "faber-ray"


@dataclass(frozen=True)
class Listening:
    """Where Serve's HTTP proxy listens."""

    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


def _quiet_serve() -> None:
    """Serve logs at INFO on the driver ("Started Serve", "New http_options will not be applied"): faber-ray
    says in its own words what happened."""
    logging.getLogger("ray.serve").setLevel(logging.WARNING)


def serve_is_running() -> bool:
    """Whether Serve's controller runs in this Ray cluster (then its HTTP options are already fixed)."""
    from ray.serve._private.constants import SERVE_CONTROLLER_NAME, SERVE_NAMESPACE

    try:
        ray.get_actor(SERVE_CONTROLLER_NAME, namespace=SERVE_NAMESPACE)
    except ValueError:
        return False
    return True


def running_serve() -> Listening | None:
    """Where a Serve already running in this cluster listens, or None if none runs."""
    if not serve_is_running():
        return None
    from ray.serve.context import _connect

    _quiet_serve()
    config = _connect().http_config
    return Listening(str(config.host), int(config.port))


def app_is_deployed(app_name: str = APP_NAME) -> bool:
    """Whether the app is on the running Serve (a ``serve`` elsewhere, alive or killed, put it there)."""
    _quiet_serve()
    return app_name in serve.status().applications


def port_problem(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be listened on here, or None if it can."""
    if not 0 < port < 65536:
        return f"--port must be between 1 and 65535, got {port}"
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            why = "is in use" if error.errno == errno.EADDRINUSE else f"cannot be used ({error.strerror})"
            return f"port {port} on {host} {why}; pick another with --port"
    return None


@ray.remote(num_cpus=0)
def _port_problem_here(host: str, port: int) -> str | None:
    return port_problem(host, port)


def port_problem_on_head(host: str, port: int) -> str | None:
    """``port_problem`` asked on the head node, where Serve's proxy would listen (serve runs HeadOnly)."""
    head = next(
        (node["NodeID"] for node in ray.nodes() if node.get("Alive") and "node:__internal_head__" in node["Resources"]),
        None,
    )
    if head is None:
        return None  # no head to ask: Serve will say
    probe = _port_problem_here.options(  # type: ignore[attr-defined]
        scheduling_strategy=NodeAffinitySchedulingStrategy(node_id=head, soft=False)
    )
    problem: str | None = ray.get(probe.remote(host, port))
    return problem


def deploy(
    executor_name: str,
    tokens: TokenTable,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    namespace: str = NAMESPACE,
    app_name: str = APP_NAME,
    route_prefix: str = "/",
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    wait_limit: float = DEFAULT_WAIT_LIMIT,
) -> None:
    """Run the app in front of the executor named ``executor_name``, starting Serve on ``host:port`` if
    none runs (a running Serve keeps its own address: ask ``running_serve`` first)."""
    _quiet_serve()
    if not serve_is_running():
        serve.start(proxy_location="HeadOnly", http_options={"host": host, "port": port})
        _quiet_serve()
    application = HTTPFrontDoor.bind(executor_name, namespace, tokens, max_body_bytes, wait_limit)  # type: ignore[attr-defined]
    serve.run(application, name=app_name, route_prefix=route_prefix, blocking=False)


def undeploy(app_name: str = APP_NAME, stop_serve: bool = False) -> None:
    """Remove the app; with ``stop_serve``, stop Serve too (its controller and proxy)."""
    _quiet_serve()
    serve.delete(app_name)
    if stop_serve:
        serve.shutdown()
