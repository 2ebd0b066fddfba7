"""Fixtures for the Ray Data processor's tests: the session's cluster, quiet Ray Data, processors shut down.

The in-process tests run on the session's 3-node cluster (``ray_cluster``, in
tests/conftest.py); the resume and CLI tests run their drivers as processes of
their own, each on a local Ray (``cli_support.sandbox_dirs``), because a
driver killed with SIGKILL must not be this one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import docker
import docker.errors
import pytest
from ray.cluster_utils import Cluster

pytest.importorskip("ray.data", reason="the data extra (pip install -e '.[data]') is not installed")

from ray.data import DataContext  # noqa: E402

from faber_ray.data import Processor, SandboxProcessorConfig, build_sandbox_processor  # noqa: E402

#: Warm sandboxes and a few slots: what these tests need, on two shared cores.
EXECUTOR = {"sandbox_mode": "warm", "max_concurrent_tasks": 4}
CPP_IMAGE = "faber-ray/gcc:12"


@pytest.fixture(scope="session")
def quiet_data(ray_cluster: Cluster) -> None:
    """No progress bars in the test log."""
    DataContext.get_current().enable_progress_bars = False


@pytest.fixture
def make_processor(quiet_data: None) -> Iterator[Callable[..., Processor]]:
    """``make_processor(preprocess=None, postprocess=None, **config)``: a processor with a private warm
    executor on the session's cluster, shut down (its containers removed) at the test's end."""
    made: list[Processor] = []

    def make(preprocess: Any = None, postprocess: Any = None, **config: Any) -> Processor:
        config.setdefault("executor_config", EXECUTOR)
        config.setdefault("concurrency", 2)
        config.setdefault("batch_size", 16)
        processor = build_sandbox_processor(
            SandboxProcessorConfig(**config), preprocess=preprocess, postprocess=postprocess
        )
        made.append(processor)
        return processor

    yield make
    for processor in made:
        processor.shutdown()


@pytest.fixture(scope="session")
def has_cpp() -> bool:
    """Whether the C++ image is there (scripts/test builds every language's; scripts/setup only Python's)."""
    client = docker.from_env()
    try:
        client.images.get(CPP_IMAGE)
        return True
    except docker.errors.ImageNotFound:
        return False
    finally:
        client.close()
