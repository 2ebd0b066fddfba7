"""``ExecutorConfig``: every knob of the executor, loadable from YAML and ``FABER_RAY_*``.

Defaults follow the original design (10 concurrent tasks, 30 s, 512 MiB, ...).
Per-task limits fall back to the ``default_*`` fields and may never exceed
``ceilings``. A misspelled key is refused wherever it comes from: an unknown
YAML key, and an unknown ``FABER_RAY_*`` variable that is not one of
:data:`NON_FIELD_VARIABLES` (which other parts of faber-ray read).
"""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from faber_ray.errors import ConfigurationError, ExecutorError
from faber_ray.models import ByteCount, Count, Number, ResourceLimits
from faber_ray.reporting import ReportingModel

__all__ = [
    "ANY_IMAGE",
    "DEFAULT_ALLOWED_IMAGES",
    "DEFAULT_IMAGE",
    "ENV_PREFIX",
    "NON_FIELD_PREFIXES",
    "NON_FIELD_VARIABLES",
    "ExecutorConfig",
    "ResolvedLimits",
    "TokenGrant",
]

DEFAULT_IMAGE = "faber-ray/python:3"
#: ``allowed_images`` entries are shell globs; by default only the images faber-ray builds.
DEFAULT_ALLOWED_IMAGES = ["faber-ray/*"]
#: The ``allowed_images`` entry that allows any image the engine has.
ANY_IMAGE = "*"
ENV_PREFIX = "FABER_RAY_"
#: ``FABER_RAY_*`` variables that are not config fields; each is read somewhere else.
NON_FIELD_VARIABLES = frozenset({
    "FABER_RAY_CONFIG",  # the YAML file ExecutorConfig.load reads
    "FABER_RAY_AGENT_DIR",  # sandbox/agent: where the agent binary is built (same path on node and pod)
    "FABER_RAY_REQUIRE_GVISOR",  # tests: fail, not skip, without runsc (CI sets it)
    "FABER_RAY_CGROUP_ROOT",  # sandbox/cgroup.py: where the cgroup tree is mounted
    "FABER_RAY_WITH_GVISOR",  # scripts/setup and scripts/test: install and register runsc
    "FABER_RAY_SETUP_IMAGES",  # scripts/setup: which images to build beyond the default one
    "FABER_RAY_WITH_CHROMIUM",  # scripts/setup and scripts/test: install chromium for the docs' tests
    "FABER_RAY_REQUIRE_CHROMIUM",  # tests: fail, not skip, without chromium (scripts/test sets it)
})
#: Families of ``FABER_RAY_*`` variables read by scripts (cluster-configs/try-local-multinode.sh).
NON_FIELD_PREFIXES = ("FABER_RAY_MN_",)
MiB = 1024**2
GiB = 1024**3
#: The most ``max_task_output`` may be: what one result may hold in a worker's and a collector's memory.
MAX_TASK_OUTPUT_BOUND = GiB

DEFAULT_BLOCKED_COMMANDS = ["reboot", "shutdown", "halt", "poweroff", "mkfs*"]


class ResolvedLimits(BaseModel):
    """A task's limits after defaults were applied: every field is set."""

    model_config = ConfigDict(frozen=True)

    timeout: float
    cpu_time: float
    memory: int
    max_processes: int
    max_output: int
    disk: int


class TokenGrant(BaseModel):
    """What one HTTP API token grants: whose tasks it submits and sees, and whether it is an admin.

    ``api_tokens`` maps a token to a user name, or to one of these.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    user: str = Field(min_length=1, description="The user the token acts as; it sees only this user's tasks.")
    admin: bool = Field(False, description="May see every user's task ids (GET /v1/cluster) and statistics.")
    priority: int = Field(
        0, ge=-(2**31), le=2**31 - 1,
        description="The highest priority this token may ask for (/v1's ?priority=); higher is dispatched first.",
    )


def _default_ceilings() -> ResourceLimits:
    return ResourceLimits(
        timeout=600, cpu_time=600, memory=8 * GiB, max_processes=4096,
        max_output=64 * MiB, disk=4 * GiB,
    )


class ExecutorConfig(ReportingModel):
    """Configuration for the executor, its actors and its sandboxes.

    A bad value raises ``ConfigurationError`` naming the field, also from the
    plain constructor: callers only ever need ``except ExecutorError``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    error_kind: ClassVar[type[ExecutorError]] = ConfigurationError

    # The actor runtime.
    max_concurrent_tasks: Count = Field(10, gt=0, description="Containers running at once, cluster-wide.")
    worker_pool_size: Count = Field(
        1, gt=0, description="SandboxWorker actors per node (one batches Ray calls best; more isolate faults)."
    )
    queue_size: Count = Field(100, gt=0, description="Tasks the Scheduler holds before callers wait.")
    result_cache_size: Count = Field(1000, gt=0, description="Finished results kept for get_result.")
    result_cache_bytes: ByteCount = Field(
        256 * MiB, gt=0, description="Bytes of finished results kept for get_result (output, steps, files)."
    )
    result_store: str | None = Field(
        None, min_length=1,
        description="Path of a SQLite file, on the executor's node, where every result is kept (committed before "
        "its ref resolves) and found again by get_result, also by a new executor; None keeps results in memory only.",
    )
    result_retention_seconds: Number = Field(
        7 * 24 * 3600, gt=0, description="How long the result store keeps a result."
    )
    dedupe: bool = Field(
        False,
        description="Tasks with the same content (image ID, command, args, env, files, stdin, limits, steps, "
        "collect) share one run; a task's own 'dedupe' overrides it.",
    )
    enable_monitoring: bool = Field(True, description="Workers report usage to the Monitor.")

    # Fair share between users (see the README's "Fair share, priorities and quotas").
    user_weights: dict[str, float] = Field(
        default_factory=dict,
        description="Each user's weight in the fair share of slots (default 1); tasks with no user are 'anonymous'.",
    )
    max_running_per_user: Count | None = Field(
        None, gt=0, description="Tasks one user may have dispatched (running, or next on a worker) at once."
    )
    max_queued_per_user: Count | None = Field(
        None, gt=0, description="Tasks one user may have in the queue; past it, that user's submissions wait or are refused."
    )
    max_infra_retries: Count = Field(
        1, ge=0, description="Reruns of a task lost to an infrastructure fault (worker, node)."
    )
    node_sandbox_memory: ByteCount | None = Field(
        None, gt=0, description="Memory sandboxes may use per node; None means 80% of the node's."
    )

    node_sandbox_pids: Count | None = Field(
        None, gt=0,
        description="Host pids (processes and threads) sandboxes may hold together per node; None means what "
        "pid_max leaves once the host's own use and a margin (a tenth, at least 1,024) are set aside.",
    )

    # Defaults for per-task limits.
    default_timeout: Number = Field(30, gt=0)
    default_cpu_limit: Number = Field(30, gt=0, description="CPU seconds.")
    default_memory_limit: ByteCount = Field(512 * MiB, gt=0)
    default_max_processes: Count = Field(64, gt=0)
    default_max_output: ByteCount = Field(1 * MiB, gt=0)
    default_disk: ByteCount = Field(
        64 * MiB, gt=0, description="Used when a task sets no disk, shrunk to half its memory limit if that is less."
    )
    ceilings: ResourceLimits = Field(default_factory=_default_ceilings)

    # Sandbox policy.
    default_image: str = DEFAULT_IMAGE
    allowed_images: list[str] = Field(
        default_factory=lambda: list(DEFAULT_ALLOWED_IMAGES),
        description="Image names (shell globs) tasks may use; ['*'] allows any image the engine has.",
    )
    blocked_commands: list[str] = Field(
        default_factory=lambda: list(DEFAULT_BLOCKED_COMMANDS),
        description="Command names (shell globs) refused outright.",
    )
    allow_network: bool = False
    runtime: str | None = Field(None, description="OCI runtime, e.g. 'runsc' for gVisor.")
    sandbox_cpus: Number = Field(1.0, gt=0, description="CPU cores one sandbox may use at once.")
    sandbox_user: str = Field(
        "10001:10001", description="uid:gid of the sandboxes: each live one takes its own uid from this one up."
    )
    sandbox_uids: Count = Field(
        1000, gt=0, description="Host uids the sandboxes of one node take, one per live container (see uids.py)."
    )
    work_dir: str = "/work"
    docker_host: str | None = Field(None, description="Docker endpoint; None uses DOCKER_HOST or the local socket.")

    # Warm sandboxes.
    sandbox_mode: Literal["warm", "fresh"] = Field(
        "warm", description="warm: reuse containers, reset between tasks; fresh: a new container per task."
    )
    warm_max_uses: int = Field(1000, gt=0, description="Tasks one warm container serves before it is recycled.")
    warm_idle_seconds: float = Field(60, gt=0, description="How long an idle warm container is kept.")

    # Size caps checked before anything runs.
    max_command_bytes: ByteCount = Field(256 * 1024, gt=0, description="command plus args.")
    max_stdin_bytes: ByteCount = Field(16 * MiB, gt=0)
    max_files: Count = Field(1000, gt=0, description="Files one task may bring.")
    max_files_bytes: ByteCount = Field(
        64 * MiB, gt=0, description="All files of one task together: their paths and their contents."
    )
    max_env_bytes: ByteCount = Field(64 * 1024, gt=0)
    max_steps: Count = Field(256, gt=0, description="Steps one task may have.")
    max_task_output: ByteCount = Field(
        16 * MiB, gt=0, le=MAX_TASK_OUTPUT_BOUND,
        description="Output one task may return: every stream of every step together (at most 1 GiB). "
        "max_output caps each stream of each step; this caps their sum, which 256 steps could "
        "otherwise make 512 times max_output.",
    )

    # Files back out of the sandbox (collect).
    max_collected_files: Count = Field(100, gt=0, description="Files one task's collect may return.")
    max_collected_bytes: ByteCount = Field(16 * MiB, gt=0, description="Bytes one task's collect may return.")

    # The HTTP API (`faber-ray serve`).
    api_tokens: list[str] | dict[str, str | TokenGrant] | None = Field(
        None, repr=False,
        description="Tokens the HTTP API accepts: a list, or a mapping of token to a user name or to "
        '{"user": NAME, "admin": true}; None makes `faber-ray serve` generate one. The executor keeps none '
        "of them: its own copy of the config has None here.",
    )

    callback_hosts: list[str] = Field(
        default_factory=list,
        description="Where the Judge0 API may send a submission's callback_url PUT: host or host:port patterns "
        "(shell globs, e.g. 'hooks.example.com', '*.internal:8443', '127.0.0.1:*'); a host alone allows any "
        "port. Empty: callbacks are refused.",
    )

    def __init__(self, /, **values: Any) -> None:
        # Only for type checkers, which do not see the defaults given to Field()
        # positionally; ReportingModel.__init__ does the work.
        super().__init__(**values)

    @field_validator("allowed_images", mode="before")
    @classmethod
    def _one_spelling_for_any_image(cls, value: object) -> object:
        if value is None:
            raise PydanticCustomError(
                "allowed_images_null",
                "null no longer means any image; write ['*'] to allow any image the engine has, "
                "or list the allowed images (shell globs such as 'faber-ray/*')",
            )
        if isinstance(value, list) and not value:
            raise PydanticCustomError(
                "allowed_images_empty", "allowed_images is empty, so no task could run; write ['*'] to allow any image"
            )
        return value

    @field_validator("api_tokens", mode="before")
    @classmethod
    def _grants_as_grants(cls, value: object) -> object:
        """A mapping's values are user names or grants; say what is wrong with a grant in its own terms
        (a plain union error would only say "should be a valid list")."""
        if not isinstance(value, Mapping):
            return value
        grants: dict[object, object] = {}
        for token, grant in value.items():
            if isinstance(grant, Mapping):
                try:
                    grant = TokenGrant.model_validate(grant)
                except ValidationError as error:
                    problem = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'grant'}: {e['msg']}" for e in error.errors())
                    raise PydanticCustomError(
                        "api_token_grant",
                        'a token maps to a user name or to {{"user": NAME, "admin": true or false}} ({problem})',
                        {"problem": problem},
                    ) from None
            grants[token] = grant
        return grants

    @field_validator("sandbox_user")
    @classmethod
    def _numeric_user(cls, value: str) -> str:
        uid, colon, gid = value.partition(":")
        if not (colon and uid.isascii() and uid.isdigit() and gid.isascii() and gid.isdigit()):
            raise PydanticCustomError("sandbox_user_form", "sandbox_user must be numeric 'uid:gid', e.g. '10001:10001'")
        if int(uid) == 0 or int(gid) == 0:
            raise PydanticCustomError("sandbox_user_root", "sandbox_user must not be root (uid or gid 0)")
        return value

    @field_validator("sandbox_uids")
    @classmethod
    def _uid_range_fits(cls, value: int, info: ValidationInfo) -> int:
        user = info.data.get("sandbox_user")
        if user is not None and int(user.partition(":")[0]) + value - 1 > 2**31 - 2:
            raise PydanticCustomError(
                "sandbox_uids_range", "sandbox_user's uid plus sandbox_uids passes the largest uid (2**31 - 2)"
            )
        return value

    @field_validator("api_tokens")
    @classmethod
    def _usable_tokens(
        cls, value: list[str] | dict[str, str | TokenGrant] | None
    ) -> list[str] | dict[str, str | TokenGrant] | None:
        if value is None:
            return None
        tokens = list(value)
        if not tokens:
            raise PydanticCustomError(
                "api_tokens_empty", "api_tokens is empty, so no request could be served; give at least one token"
            )
        for token in tokens:
            if len(token.strip()) < 8 or token != token.strip():
                raise PydanticCustomError(
                    "api_token_short", "every API token must be at least 8 characters, without surrounding spaces"
                )
        if isinstance(value, dict) and any(
            not (grant.user if isinstance(grant, TokenGrant) else grant).strip() for grant in value.values()
        ):
            raise PydanticCustomError("api_token_user", "every API token's user name must be non-empty")
        return value

    @field_validator("callback_hosts")
    @classmethod
    def _host_patterns(cls, value: list[str]) -> list[str]:
        """A host or host:port pattern, nothing more: a scheme, a path or a user in it would never match."""
        for pattern in value:
            host, port = pattern, "*"
            if pattern.startswith("["):  # [IPv6] or [IPv6]:port
                host, _, rest = pattern.partition("]")
                host += "]"
                port = rest.removeprefix(":") if rest else "*"
            elif pattern.count(":") == 1:
                host, port = pattern.split(":")
            if (not host.strip("[]") or any(c in pattern for c in "/@ ?#") or pattern != pattern.strip()
                    or not (port == "*" or (port.isascii() and port.isdigit() and 0 < int(port) < 65536))):
                raise PydanticCustomError(
                    "callback_host", "every callback_hosts entry is a host or host:port pattern, e.g. "
                    "'hooks.example.com' or '127.0.0.1:8080'; got '{pattern}'", {"pattern": pattern},
                )
        return value

    @field_validator("user_weights")
    @classmethod
    def _positive_weights(cls, value: dict[str, float]) -> dict[str, float]:
        for user, weight in value.items():
            if not user.strip():
                raise PydanticCustomError("user_weight_name", "every user_weights key must be a non-empty user name")
            if not (0 < weight < float("inf")):
                raise PydanticCustomError(
                    "user_weight_value", "user {user}'s weight must be a positive finite number", {"user": user}
                )
        return value

    def without_secrets(self) -> ExecutorConfig:
        """This config with no API tokens: what the executor keeps, so that no actor holds a usable secret."""
        return self if self.api_tokens is None else self.model_copy(update={"api_tokens": None})

    def resolve_limits(self, limits: ResourceLimits | None) -> ResolvedLimits:
        """Fill the unset fields of ``limits`` from the defaults (ceilings are checked in validation).

        An unset ``disk`` is ``default_disk`` or half the memory limit, whichever
        is smaller: the sandbox's tmpfs counts as memory, so a disk as large as
        the memory would be OOM-killed instead of getting "No space left".
        """
        given = limits or ResourceLimits()
        memory = given.memory if given.memory is not None else self.default_memory_limit
        return ResolvedLimits(
            timeout=given.timeout if given.timeout is not None else self.default_timeout,
            cpu_time=given.cpu_time if given.cpu_time is not None else self.default_cpu_limit,
            memory=memory,
            max_processes=(
                given.max_processes if given.max_processes is not None else self.default_max_processes
            ),
            max_output=given.max_output if given.max_output is not None else self.default_max_output,
            disk=given.disk if given.disk is not None else min(self.default_disk, memory // 2),
        )

    # Loading -----------------------------------------------------------------

    @classmethod
    def build(cls, values: Mapping[str, Any], source: str = "arguments") -> ExecutorConfig:
        """Validate ``values`` into a config, turning pydantic's error into ``ConfigurationError``."""
        try:
            return cls.model_validate(dict(values))
        except ConfigurationError as error:
            raise ConfigurationError(f"{error.reason} (from {source})", field=error.field) from None

    @classmethod
    def from_yaml(cls, path: str | os.PathLike[str]) -> ExecutorConfig:
        """Load a YAML mapping of field names to values; environment variables still apply on top."""
        return cls.build({**_read_yaml(Path(path)), **_read_env(os.environ)}, source=str(path))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ExecutorConfig:
        """Load from ``FABER_RAY_<FIELD>`` variables, e.g. ``FABER_RAY_DEFAULT_TIMEOUT=10``."""
        return cls.build(_read_env(os.environ if environ is None else environ), source="environment")

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None) -> ExecutorConfig:
        """A YAML file if given (or named by ``FABER_RAY_CONFIG``), then the environment on top."""
        path = path or os.environ.get(f"{ENV_PREFIX}CONFIG")
        return cls.from_yaml(path) if path else cls.from_env()


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except OSError as error:
        raise ConfigurationError(f"cannot read config file {path}: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise ConfigurationError(f"config file {path} is not valid YAML: {error}") from None
    if not isinstance(data, dict):
        raise ConfigurationError(f"config file {path} must hold a mapping of field names to values")
    return data


def _read_env(environ: Mapping[str, str]) -> dict[str, Any]:
    """Collect ``FABER_RAY_*`` variables; JSON values (lists, objects, numbers) are decoded.

    A variable that names no field (and is not one of :data:`NON_FIELD_VARIABLES`)
    is refused, with the closest field suggested: a typo must not be ignored.
    """
    fields = list(ExecutorConfig.model_fields)
    values: dict[str, Any] = {}
    for name in sorted(environ):
        if not name.startswith(ENV_PREFIX) or name in NON_FIELD_VARIABLES or name.startswith(NON_FIELD_PREFIXES):
            continue
        field = name[len(ENV_PREFIX):].lower()
        if field not in fields or name != ENV_PREFIX + field.upper():
            raise ConfigurationError(_unknown_variable(name, field, fields), field=name)
        raw = environ[name]
        try:
            values[field] = json.loads(raw)
        except json.JSONDecodeError:
            values[field] = raw
    return values


def _unknown_variable(name: str, field: str, fields: list[str]) -> str:
    close = difflib.get_close_matches(field, fields, n=1)
    hint = (
        f"did you mean {ENV_PREFIX}{close[0].upper()}?" if close
        else f"config fields are set as {ENV_PREFIX}<FIELD>, e.g. {ENV_PREFIX}MAX_CONCURRENT_TASKS"
    )
    return f"unknown environment variable {name}: no config field is called '{field}'; {hint}"
