"""The Docker layer: sandbox containers running the agent, fresh or warm, and their cleanup. No Ray here."""

from faber_ray.sandbox.engine import connect
from faber_ray.sandbox.reaper import list_sandboxes, reap_sandboxes
from faber_ray.sandbox.runner import SandboxRunner, new_execution_id

__all__ = ["SandboxRunner", "connect", "list_sandboxes", "new_execution_id", "reap_sandboxes"]
