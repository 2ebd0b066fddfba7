"""The Docker layer, no Ray: containers running the agent (``agent/``), fresh or warm, one run of a task in
one of them, its limits and its report, and cleanup after faults. ``SandboxRunner`` is its entry point."""

from faber_ray.sandbox.runner import SandboxRunner

__all__ = ["SandboxRunner"]
