"""Reach the shared executor of a cluster: ``connect``, ``start_shared``, ``stop_shared``.

A shared executor is a named, detached ``TaskExecutor`` (``executor`` in the
``faber-ray`` namespace): many users and drivers share its one queue and its
one set of workers. It is pinned to the node that started it; start it from
the head node (``faber-ray start --address auto`` there).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import ray

from faber_ray.actors import NAMESPACE, TaskExecutor
from faber_ray.actors.options import SHARED_EXECUTOR_NAME
from faber_ray.config import ExecutorConfig
from faber_ray.errors import ExecutionError, unwrap_error

__all__ = ["SHARED_EXECUTOR_NAME", "connect", "ensure_ray", "start_shared", "stop_shared"]


def _token_available() -> bool:
    return bool(
        os.environ.get("RAY_AUTH_TOKEN")
        or os.environ.get("RAY_AUTH_TOKEN_PATH")
        or (Path.home() / ".ray" / "auth_token").exists()
    )


def ensure_ray(address: str | None = None) -> None:
    """Join ``address`` (``auto``, ``host:port``), or start a local Ray when None; once per process.

    Ray 2.60 turns token authentication on by itself for a local cluster and
    for ``auto``, but not for an explicit ``host:port``, where it then fails
    against a cluster that requires the token. When a token is at hand and
    ``RAY_AUTH_MODE`` is unset, faber-ray asks for token mode explicitly.
    """
    if ray.is_initialized():
        return
    if address and "RAY_AUTH_MODE" not in os.environ and _token_available():
        os.environ["RAY_AUTH_MODE"] = "token"
    ray.init(address=address, namespace=NAMESPACE, log_to_driver=False, configure_logging=False)


def connect(address: str | None = None) -> Any:
    """The handle of the cluster's shared executor; ``address`` defaults to ``auto``."""
    ensure_ray(address or "auto")
    try:
        return ray.get_actor(SHARED_EXECUTOR_NAME, namespace=NAMESPACE)
    except ValueError:
        raise ExecutionError(
            "no shared executor runs in this cluster; start one with `faber-ray start --address auto`"
        ) from None


def start_shared(config: ExecutorConfig | None = None, address: str | None = None) -> tuple[Any, bool]:
    """Create the shared executor unless one is there; returns ``(handle, created)``.

    Running it again is harmless: an existing executor is returned untouched.
    """
    ensure_ray(address or "auto")
    try:
        return ray.get_actor(SHARED_EXECUTOR_NAME, namespace=NAMESPACE), False
    except ValueError:
        pass
    try:
        handle = TaskExecutor.options(name=SHARED_EXECUTOR_NAME, detached=True).remote(config)
    except ValueError:  # another `faber-ray start` won the race
        return ray.get_actor(SHARED_EXECUTOR_NAME, namespace=NAMESPACE), False
    try:
        ray.get(handle.cluster.remote())  # waits for the workers, and surfaces a failed start
    except Exception as error:
        ray.kill(handle, no_restart=True)
        raise unwrap_error(error) from None
    return handle, True


def stop_shared(address: str | None = None) -> int | None:
    """Shut the shared executor down; returns containers removed, or None if none was running."""
    ensure_ray(address or "auto")
    try:
        handle = ray.get_actor(SHARED_EXECUTOR_NAME, namespace=NAMESPACE)
    except ValueError:
        return None
    removed = int(ray.get(handle.shutdown.remote()))
    ray.kill(handle, no_restart=True)
    return removed
