"""Thin Ray actors over the Ray-free core; ``TaskExecutor`` is the front door."""

from __future__ import annotations

from typing import Any

import ray
from ray.actor import ActorHandle

from faber_ray.actors.collector import ResultCollector
from faber_ray.actors.executor import TaskExecutor as _TaskExecutorActor
from faber_ray.actors.monitor import Monitor
from faber_ray.actors.options import NAMESPACE, SANDBOX_RESOURCE, SHARED_EXECUTOR_NAME, control_options
from faber_ray.actors.scheduler import Scheduler
from faber_ray.actors.worker import SandboxWorker

__all__ = [
    "NAMESPACE",
    "SANDBOX_RESOURCE",
    "Monitor",
    "ResultCollector",
    "SandboxWorker",
    "Scheduler",
    "TaskExecutor",
]


class _ExecutorClass:
    """``TaskExecutor``: use it like a Ray actor class (``TaskExecutor.remote(config)``).

    It pins the executor hard to the caller's node before creating it, because
    the executor owns every result ref it hands out.
    """

    def __init__(self, actor_class: Any) -> None:
        self._actor_class = actor_class

    def options(self, *, name: str | None = None, detached: bool = False, **ray_options: Any) -> "_BoundExecutor":
        if not ray.is_initialized():
            ray.init()
        node = ray.get_runtime_context().get_node_id()
        options = control_options("executor", name or "", node, detached=detached)
        if not name:
            options.pop("name")
        options.update(ray_options)
        # The shared executor's actors get plain names (scheduler, worker-...); any
        # other executor's are suffixed, with its own name or a random tag.
        tag = "" if name == SHARED_EXECUTOR_NAME else name
        return _BoundExecutor(self._actor_class, options, tag=tag)

    def remote(self, config: Any = None) -> ActorHandle:
        """A new executor (its handle: call its methods with ``.remote``)."""
        return self.options().remote(config)


class _BoundExecutor:
    def __init__(self, actor_class: Any, options: dict[str, Any], tag: str | None) -> None:
        self._actor_class, self._options, self._tag = actor_class, options, tag

    def remote(self, config: Any = None) -> ActorHandle:
        handle: ActorHandle = self._actor_class.options(**self._options).remote(config, self._tag)
        return handle


TaskExecutor = _ExecutorClass(_TaskExecutorActor)
