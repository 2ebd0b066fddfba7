"""Which executor a command talks to: the cluster's shared one, or a private one on a local Ray."""

from __future__ import annotations

from typing import Any

import ray

from faber_ray.actors import TaskExecutor
from faber_ray.client import connect, ensure_ray
from faber_ray.config import ExecutorConfig
from faber_ray.errors import ConfigurationError

__all__ = ["local_config", "open_executor"]


def local_config(address: str | None, config_path: str | None) -> ExecutorConfig | None:
    """The config for a private executor (``--config``, ``FABER_RAY_CONFIG``, ``FABER_RAY_*``);
    None with ``address``, where the shared executor's own config applies.

    ``--config`` with ``--address`` is refused rather than ignored: the shared
    executor's config was fixed when ``faber-ray start`` created it.
    """
    if address is None:
        return ExecutorConfig.load(config_path)
    if config_path:
        raise ConfigurationError(
            "--config does not apply with --address: the shared executor's config was fixed when "
            "`faber-ray start` created it; to change it, `faber-ray stop` and then `faber-ray start --config FILE`",
            field="--config",
        )
    return None


def open_executor(address: str | None, config: ExecutorConfig | None) -> tuple[Any, ExecutorConfig, bool]:
    """``(handle, config in force, private)``: with ``address`` the shared executor there (and its
    config), else a private executor with ``config`` on a local Ray that lives as long as this process."""
    if address:
        handle = connect(address)
        return handle, ray.get(handle.config.remote()), False
    ensure_ray(None)
    config = config or ExecutorConfig()
    return TaskExecutor.remote(config), config, True
