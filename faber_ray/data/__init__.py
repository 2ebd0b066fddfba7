"""A sandboxed stage for Ray Data pipelines: ``build_sandbox_processor(config)(ds)``.

Needs the ``data`` extra (``pip install "faber-ray[data]"``: Ray Data, pyarrow,
pandas). The row format is :mod:`faber_ray.data.rows`'s; the README's "Datasets"
section has a Parquet-to-Parquet pipeline and the resume recipe.
"""

from __future__ import annotations

try:
    import pyarrow  # noqa: F401
    import ray.data  # noqa: F401
except ImportError as missing:  # pragma: no cover - depends on the installation
    raise ImportError(
        f"faber_ray.data needs Ray Data and pyarrow ({missing}); install them with: pip install 'faber-ray[data]'"
    ) from None

from faber_ray.data.config import SHARED, SandboxProcessorConfig
from faber_ray.data.processor import Processor, build_sandbox_processor
from faber_ray.data.rows import REFUSED, RESULT_COLUMNS, RESULT_SCHEMA

__all__ = [
    "REFUSED", "RESULT_COLUMNS", "RESULT_SCHEMA", "SHARED", "Processor", "SandboxProcessorConfig",
    "build_sandbox_processor",
]
