"""faber-ray: sandboxed task execution on Ray.

Every task runs in its own locked-down Docker container with time, CPU,
memory, process and output limits; the results come back with an exit code,
the output, a status and the measured usage. The public surface is exactly
what ``__all__`` lists.
"""

from faber_ray.actors import TaskExecutor
from faber_ray.client import connect
from faber_ray.config import ExecutorConfig
from faber_ray.errors import (
    ConfigurationError,
    ExecutionError,
    ExecutorError,
    QueueFullError,
    ResourceLimitError,
    SandboxError,
    SecurityPolicyError,
    TaskValidationError,
    unwrap_error,
)
from faber_ray.judging import Checker, TestCase, TestResult, Verdict
from faber_ray.models import (
    ExecutionStatistics,
    OutputChunk,
    ResourceLimits,
    ResourceUsage,
    Step,
    StepResult,
    Task,
    TaskResult,
    TaskStatus,
    UserStatistics,
)
from faber_ray.status import STATUS_PRECEDENCE
from faber_ray.validation import validate_batch

__version__ = "0.1.0"

__all__ = [
    "STATUS_PRECEDENCE",
    "Checker",
    "ConfigurationError",
    "ExecutionError",
    "ExecutionStatistics",
    "ExecutorConfig",
    "ExecutorError",
    "OutputChunk",
    "QueueFullError",
    "ResourceLimitError",
    "ResourceLimits",
    "ResourceUsage",
    "SandboxError",
    "SecurityPolicyError",
    "Step",
    "StepResult",
    "Task",
    "TaskResult",
    "TaskExecutor",
    "TaskStatus",
    "TaskValidationError",
    "TestCase",
    "TestResult",
    "UserStatistics",
    "Verdict",
    "__version__",
    "connect",
    "unwrap_error",
    "validate_batch",
]
