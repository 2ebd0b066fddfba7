"""Which executor a command talks to: the cluster's shared one, or a private one on a local Ray."""

from __future__ import annotations

from typing import Any

import ray

from faber_ray.actors import TaskExecutor
from faber_ray.client import connect, ensure_ray
from faber_ray.config import ExecutorConfig

__all__ = ["open_executor"]


def open_executor(address: str | None, config: ExecutorConfig) -> tuple[Any, ExecutorConfig, bool]:
    """``(handle, config in force, private)``: with ``address`` the shared executor there (and its
    config), else a private executor with ``config`` on a local Ray that lives as long as this process."""
    if address:
        handle = connect(address)
        return handle, ray.get(handle.config.remote()), False
    ensure_ray(None)
    return TaskExecutor.remote(config), config, True
