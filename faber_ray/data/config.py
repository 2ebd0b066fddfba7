"""``SandboxProcessorConfig``: how many sandboxing actors a pipeline gets, how big their batches are, which executor.

Shaped like ``ray.data.llm``'s processor configs, so that a user who knows
``build_llm_processor`` knows this one: ``concurrency`` is the size of the
actor pool (an int, or a ``(min, max)`` pair Ray Data autoscales between) and
``batch_size`` the rows one actor hands to the executor at once.

Checked when it is built, so a bad value is a ``ConfigurationError`` naming
its field on the driver, not a failure of some actor deep in a pipeline.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from faber_ray.config import ExecutorConfig
from faber_ray.errors import ConfigurationError

__all__ = ["SHARED", "SandboxProcessorConfig"]

#: ``address="shared"``: the shared executor of the cluster this driver is (or gets) connected to.
SHARED = "shared"


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class SandboxProcessorConfig:
    """What a sandbox processor runs with.

    - ``concurrency``: actors in the pool, an int or ``(min, max)``. Each holds one
      batch in the executor at a time, so ``concurrency * batch_size`` rows are in
      flight: keep it above the executor's ``max_concurrent_tasks``, so its slots
      never wait for a batch to end.
    - ``batch_size``: rows per batch (one ``execute`` call).
    - ``address``: ``None`` starts a private executor, shared by the pool and shut
      down with the processor (``Processor.shutdown``, or at exit); ``"shared"`` uses
      the cluster's shared executor (``faber-ray start``); any other string is a Ray
      address whose shared executor is used.
    - ``executor_config``: the private executor's ``ExecutorConfig`` (or a dict of
      its fields); not with a shared one, whose config was fixed when it started.
    - ``continue_on_error``: a refused row becomes a ``REFUSED`` row and the
      pipeline goes on; with ``False`` the first refusal fails the pipeline.
    - ``id_column``: a column that names each row, used in refusals (``row 'a7'``);
      the resume recipe needs one anyway.
    """

    # Few actors, large batches: several execute calls at once run slower in the executor than fewer,
    # larger ones (benchmarks/README.md, "The Ray Data processor").
    concurrency: int | tuple[int, int] = 2
    batch_size: int = 128
    address: str | None = None
    executor_config: ExecutorConfig | Mapping[str, Any] | None = None
    continue_on_error: bool = True
    id_column: str | None = None

    def __post_init__(self) -> None:
        concurrency = self.concurrency
        if isinstance(concurrency, list):  # a YAML or JSON pair
            concurrency = tuple(concurrency)
            object.__setattr__(self, "concurrency", concurrency)
        if _whole(concurrency):
            if concurrency < 1:  # type: ignore[operator]
                raise ConfigurationError(f"must be at least 1, got {concurrency}", field="concurrency")
        elif isinstance(concurrency, tuple) and len(concurrency) == 2 and all(map(_whole, concurrency)):
            low, high = concurrency
            if not 1 <= low <= high:
                raise ConfigurationError(
                    f"a (min, max) pair needs 1 <= min <= max, got ({low}, {high})", field="concurrency"
                )
        else:
            raise ConfigurationError(
                f"must be a whole number or a (min, max) pair of them, not {concurrency!r}", field="concurrency"
            )
        if not _whole(self.batch_size) or self.batch_size < 1:
            raise ConfigurationError(f"must be a whole number of at least 1, not {self.batch_size!r}",
                                     field="batch_size")
        if self.address is not None and (not isinstance(self.address, str) or not self.address.strip()):
            raise ConfigurationError(
                f"must be None (a private executor), 'shared' or a Ray address, not {self.address!r}",
                field="address",
            )
        if self.address is not None and self.executor_config is not None:
            raise ConfigurationError(
                "applies only to a private executor (address=None): the shared executor's config was fixed "
                "when `faber-ray start` created it",
                field="executor_config",
            )
        if isinstance(self.executor_config, Mapping):
            object.__setattr__(self, "executor_config", ExecutorConfig.build(self.executor_config))
        elif self.executor_config is not None and not isinstance(self.executor_config, ExecutorConfig):
            raise ConfigurationError(
                f"must be an ExecutorConfig or a dict of its fields, not {type(self.executor_config).__name__}",
                field="executor_config",
            )
        if not isinstance(self.continue_on_error, bool):
            raise ConfigurationError(f"must be True or False, not {self.continue_on_error!r}",
                                     field="continue_on_error")
        if self.id_column is not None and (not isinstance(self.id_column, str) or not self.id_column):
            raise ConfigurationError(f"must be a column's name, not {self.id_column!r}", field="id_column")

    @property
    def private(self) -> bool:
        """True when the processor starts (and ends) an executor of its own."""
        return self.address is None
