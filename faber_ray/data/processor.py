"""``build_sandbox_processor``: a stage of a Ray Data pipeline that runs each row's task in a sandbox.

The shape is ``ray.data.llm``'s (``build_llm_processor(config, preprocess=...,
postprocess=...)``, then ``processor(ds)``), because that is the shape Ray Data
users already write. Underneath it is ``Dataset.map_batches`` with an actor pool
of :class:`~faber_ray.data.udf.SandboxBatch`: each actor hands its batch to one
executor, whose scheduler spreads the tasks over the cluster's sandboxes. The
actors reserve no CPU: they only wait on the executor, and the CPUs are the
sandboxes'.

A private executor (``address=None``) is started once, when the processor is
first applied, as a named actor that every actor of the pool finds by name. If
the driver has no Ray yet, building the processor starts a local one of its
own, as ``faber-ray run`` does: Ray Data's own ``ray.init()`` would join any
cluster running on the machine. To use a cluster, ``ray.init(address=...)``
first.
It is owned by this driver, so it goes when the driver goes; ``shutdown()``
(also called at interpreter exit, and by ``with``) removes its containers.
"""

from __future__ import annotations

import atexit
import uuid
from types import TracebackType
import ray
from ray.actor import ActorHandle
from ray.data import ActorPoolStrategy, Dataset

from faber_ray.actors import TaskExecutor
from faber_ray.actors.options import SHARED_EXECUTOR_NAME
from faber_ray.client import connect, ensure_ray
from faber_ray.config import ExecutorConfig
from faber_ray.errors import unwrap_error
from faber_ray.models import ExecutionStatistics
from faber_ray.data.config import SHARED, SandboxProcessorConfig
from faber_ray.data.udf import Postprocess, Preprocess, SandboxBatch

__all__ = ["Processor", "build_sandbox_processor"]


class Processor:
    """Apply it to a dataset: ``processor(ds)`` is ``ds`` with each row's task run (lazily, as Ray Data is)."""

    def __init__(
        self, config: SandboxProcessorConfig, preprocess: Preprocess | None = None,
        postprocess: Postprocess | None = None,
    ) -> None:
        self.config = config
        self._preprocess = preprocess
        self._postprocess = postprocess
        self._executor: ActorHandle | None = None
        self._name: str | None = None
        # Ray now, before the caller's first ray.data call: Ray Data's own ray.init() would join any Ray
        # cluster this machine runs (someone else's), where a private executor has no business.
        if config.private:
            ensure_ray(None)  # a Ray this driver already runs, or a local one of its own
        else:
            self._start()

    def __call__(self, ds: Dataset) -> Dataset:
        name = self._start()
        # One block per batch: an actor task takes whole blocks, so a block of 5,000 rows (one Parquet file
        # read whole) would keep one actor busy and the rest idle. Streaming, so nothing waits for the whole set.
        processed = ds.repartition(target_num_rows_per_block=self.config.batch_size).map_batches(
            SandboxBatch,
            fn_constructor_kwargs={
                "executor_name": name, "preprocess": self._preprocess, "postprocess": self._postprocess,
                "continue_on_error": self.config.continue_on_error, "id_column": self.config.id_column,
            },
            batch_size=self.config.batch_size,
            batch_format="pyarrow",
            compute=self._pool(),
            num_cpus=0,
        )
        if not self.config.continue_on_error:
            # Ray Data wraps a UDF's exception in a UserCodeException that keeps only its text; the
            # refusal itself must reach the driver, as an ExecutorError with its index and field.
            processed.context.raise_original_map_exception = True
        return processed

    def _pool(self) -> ActorPoolStrategy:
        """``concurrency`` as Ray Data takes it since 2.51 (its ``concurrency=`` argument is deprecated)."""
        concurrency = self.config.concurrency
        if isinstance(concurrency, tuple):
            return ActorPoolStrategy(min_size=concurrency[0], max_size=concurrency[1])
        return ActorPoolStrategy(size=concurrency)

    @property
    def executor(self) -> ActorHandle:
        """The executor the pool sends its batches to (started if it is not yet)."""
        self._start()
        assert self._executor is not None
        return self._executor

    def stats(self) -> ExecutionStatistics:
        """The executor's counters: for a private executor, exactly this processor's tasks."""
        statistics: ExecutionStatistics = ray.get(self.executor.stats.remote())
        return statistics

    def shutdown(self) -> int:
        """End a private executor and remove its containers (returns how many); a shared one is left running."""
        if self._executor is None or not self.config.private:
            return 0
        executor, self._executor, self._name = self._executor, None, None
        atexit.unregister(self.shutdown)
        if not ray.is_initialized():
            return 0
        try:
            removed = int(ray.get(executor.shutdown.remote()))
        finally:
            ray.kill(executor, no_restart=True)
        return removed

    def __enter__(self) -> Processor:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.shutdown()

    def _start(self) -> str:
        if self._name is not None:
            return self._name
        address = self.config.address
        if address is not None:
            self._executor = connect(None if address == SHARED else address)
            self._name = SHARED_EXECUTOR_NAME
            return self._name
        ensure_ray(None)
        name = f"data-{uuid.uuid4().hex[:8]}"
        config = self.config.executor_config
        assert config is None or isinstance(config, ExecutorConfig)
        executor = TaskExecutor.options(name=name).remote(config)
        try:
            ray.get(executor.cluster.remote())  # waits for the workers, and surfaces a failed start
        except Exception as error:
            ray.kill(executor, no_restart=True)
            raise unwrap_error(error) from None
        self._executor, self._name = executor, name
        atexit.register(self.shutdown)
        return name


def build_sandbox_processor(
    config: SandboxProcessorConfig, preprocess: Preprocess | None = None, postprocess: Postprocess | None = None
) -> Processor:
    """A processor: ``processor(ds)`` runs every row's task in a sandbox.

    ``preprocess(row) -> task`` gives a row's task (a ``Task``, a dict, or the language form with
    ``tests``, ``checker`` and ``stop``); without it the row is read as :mod:`faber_ray.data.rows`
    says. ``postprocess(row, result) -> dict`` gives the output row, where ``result`` is the
    ``TaskResult``, or the refusal (an ``ExecutorError``) of a row that never ran; without it the
    output row is the input row plus the result's columns.
    """
    return Processor(config, preprocess=preprocess, postprocess=postprocess)

