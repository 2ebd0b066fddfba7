"""Shared helpers: the baseline (the raw docker SDK doing the same work) and timing."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import docker

IMAGE = "faber-ray/python:3"


def raw_docker_run(client: docker.DockerClient, argv: list[str]) -> bytes:
    """The baseline: what a user of the plain SDK writes for one sandboxed command
    (same network, user and memory settings, no streaming, no limits enforcement)."""
    return client.containers.run(
        IMAGE, argv, remove=True, network_mode="none", user="10001:10001", mem_limit="512m",
        stdout=True, stderr=True,
    )


def timed(label: str, repeat: int, action: Callable[[], object]) -> float:
    """Median seconds of ``repeat`` calls of ``action``."""
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        samples.append(time.perf_counter() - started)
    median = statistics.median(samples)
    print(f"  {label:<40} median {median * 1000:8.1f} ms over {repeat}")
    return median


def ratio_line(name: str, ours: float, baseline: float) -> None:
    print(f"{name}: faber-ray / raw docker SDK = {ours / baseline:.2f}x")
