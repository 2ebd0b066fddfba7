"""The resume recipe as a user's script runs it (the README's): a Parquet pipeline through the processor that
writes with a ``CheckpointConfig``. ``test_resume`` starts it, kills it, and starts it again.

Usage: python resume_pipeline.py SOURCE OUTPUT CHECKPOINT BATCH_SIZE; prints ``started`` once the executor
runs, and ``{"executed": N}`` (the tasks this run's executor ran) when the pipeline ends.
"""

from __future__ import annotations

import json
import sys

import ray.data
from ray.data import DataContext
from ray.data.checkpoint import CheckpointConfig

from faber_ray.data import SandboxProcessorConfig, build_sandbox_processor

source, output, checkpoint, batch_size = sys.argv[1:5]
context = DataContext.get_current()
context.enable_progress_bars = False
context.checkpoint_config = CheckpointConfig(id_column="id", checkpoint_path=checkpoint)
config = SandboxProcessorConfig(
    concurrency=2, batch_size=int(batch_size), id_column="id",
    executor_config={"sandbox_mode": "warm", "max_concurrent_tasks": 4},
)
with build_sandbox_processor(config) as processor:
    processor.stats()  # starts a local Ray and the executor, so that the kill lands in the pipeline itself
    print("started", flush=True)
    processor(ray.data.read_parquet(source)).write_parquet(output)
    print(json.dumps({"executed": processor.stats().total}), flush=True)
