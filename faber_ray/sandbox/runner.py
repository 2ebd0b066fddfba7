"""Run one task in one fresh, locked-down container and report what happened.

The flow per task: stage files, create the container (hardened, limited,
labelled), attach to its streams *before* starting it so no byte is missed,
start it, feed stdin, then read output until PID 1 exits. A watcher thread
samples the cgroup to enforce the wall clock and the CPU time; the reader
enforces the output caps. Whatever happens, the container, its cgroup and
its staging directory are removed.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import docker
import docker.errors

from faber_ray.config import ExecutorConfig, ResolvedLimits
from faber_ray.errors import ExecutorError, SandboxError
from faber_ray.models import ResourceUsage, Task, TaskResult, TaskStatus
from faber_ray.sandbox.cgroup import CgroupUsage, SandboxCgroup
from faber_ray.sandbox.engine import connect, docker_errors
from faber_ray.sandbox.spec import container_spec
from faber_ray.sandbox.streams import CappedBuffer, pump_frames, raw_socket
from faber_ray.status import ExecutionFacts, decide_status

__all__ = ["LABEL", "LABEL_EXECUTION_ID", "LABEL_NODE_ID", "LABEL_OWNER", "SandboxRunner", "new_execution_id"]

log = logging.getLogger(__name__)

LABEL = "faber-ray"
LABEL_EXECUTION_ID = "faber-ray.execution-id"
LABEL_NODE_ID = "faber-ray.node-id"
#: Who started the container (a worker actor's name), so a successor can reap it.
LABEL_OWNER = "faber-ray.owner"

SAMPLE_INTERVAL = 0.1
# Exit codes of a process killed by SIGXCPU / SIGXFSZ (the RLIMIT backstops).
_EXIT_SIGXCPU, _EXIT_SIGXFSZ = 128 + 24, 128 + 25
_EXIT_SIGKILL = 128 + 9
# How far below the memory limit a SIGKILLed sandbox's peak may be and still count as an OOM kill.
_OOM_SLACK = 1024 * 1024
_NOT_FOUND_HINTS = ("executable file not found", "no such file or directory")


def new_execution_id() -> str:
    """A fresh id: short enough to read, random enough never to collide."""
    return uuid.uuid4().hex


@dataclass
class _Execution:
    """Mutable state of one run, shared by the reader, the watcher and ``cancel``."""

    execution_id: str
    container_id: str | None = None
    limits_hit: set[str] = field(default_factory=set)
    cancelled: bool = False
    finished: threading.Event = field(default_factory=threading.Event)
    peak: CgroupUsage = field(default_factory=CgroupUsage)


class SandboxRunner:
    """Runs tasks in containers on one Docker engine; thread-safe, one call per task."""

    def __init__(
        self,
        config: ExecutorConfig | None = None,
        *,
        node_id: str = "",
        owner: str = "",
        client: docker.DockerClient | None = None,
        staging_root: str | os.PathLike[str] | None = None,
    ) -> None:
        self.config = config or ExecutorConfig()
        self.node_id = node_id
        self.owner = owner
        self.client = client or connect(self.config.docker_host)
        self.staging_root = Path(
            staging_root or os.environ.get("FABER_RAY_STAGING_DIR") or Path(tempfile.gettempdir()) / "faber-ray"
        )
        self._cgroup_parents = self.client.info().get("CgroupDriver") == "cgroupfs"
        self._active: dict[str, _Execution] = {}
        self._cancel_pending: set[str] = set()
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)

    # Public ------------------------------------------------------------------

    def run(self, task: Task, execution_id: str | None = None) -> TaskResult:
        """Run ``task`` (already validated) to completion and return its result. Never raises."""
        execution = _Execution(execution_id or new_execution_id())
        with self._lock:
            execution.cancelled = execution.execution_id in self._cancel_pending
            self._cancel_pending.discard(execution.execution_id)
            self._active[execution.execution_id] = execution
        try:
            return self._run(task, execution)
        finally:
            with self._lock:
                self._active.pop(execution.execution_id, None)
                if not self._active:
                    self._idle.notify_all()

    def cancel(self, execution_id: str, *, before_start: bool = False) -> bool:
        """Kill a running task so that it ends ``CANCELLED``; False if it is not running here.

        With ``before_start`` an id that is not running yet is remembered, and
        its ``run`` will end ``CANCELLED`` without starting a container; this
        closes the race between handing a task over and cancelling it.
        """
        with self._lock:
            execution = self._active.get(execution_id)
            if execution is None and before_start:
                self._cancel_pending.add(execution_id)
                return True
        if execution is None:
            return False
        execution.cancelled = True
        self._kill(execution)
        return True

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until no task runs here (True) or ``timeout`` passes (False)."""
        with self._idle:
            return self._idle.wait_for(lambda: not self._active, timeout)

    def running(self) -> list[str]:
        """Execution ids running now."""
        with self._lock:
            return list(self._active)

    # One run -----------------------------------------------------------------

    def _run(self, task: Task, execution: _Execution) -> TaskResult:
        limits = self.config.resolve_limits(task.limits)
        image = task.image or self.config.default_image
        stdout, stderr = CappedBuffer(limits.max_output), CappedBuffer(limits.max_output)
        facts = ExecutionFacts()
        usage = ResourceUsage()
        cgroup = SandboxCgroup(f"faber-ray/{execution.execution_id}")
        staging: Path | None = None
        watcher: threading.Thread | None = None
        try:
            if execution.cancelled:
                facts.cancelled = True
                return self._result(task, execution, facts, usage, stdout, stderr, image)
            with docker_errors(image, self.config.runtime):
                staging = self._stage_files(task, execution.execution_id)
                created_at = time.monotonic()
                container_id = self._create(task, image, limits, execution, staging)
                execution.container_id = container_id
                cgroup.container_id = container_id
                if execution.cancelled:
                    facts.cancelled = True
                    return self._result(task, execution, facts, usage, stdout, stderr, image)
                sock = raw_socket(
                    self.client.api.attach_socket(
                        container_id, params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1}
                    )
                )
                try:
                    if not self._start(container_id, task, facts, stderr):
                        return self._result(task, execution, facts, usage, stdout, stderr, image)
                    if execution.cancelled:
                        # cancel() came between create and start: its kill found nothing running.
                        self._kill(execution)
                    started_at = time.monotonic()
                    usage.startup_time = started_at - created_at
                    if not self._cgroup_parents:
                        self._locate_cgroup(container_id, cgroup)
                    watcher = threading.Thread(
                        target=self._watch, args=(execution, cgroup, limits), name=f"watch-{container_id[:12]}",
                        daemon=True,
                    )
                    watcher.start()
                    self._feed_stdin(sock, task.stdin)
                    sock.settimeout(limits.timeout + 60)
                    pump_frames(sock, stdout, stderr, lambda _name: self._output_overflow(execution))
                    streamed_for = time.monotonic() - started_at
                finally:
                    sock.close()
                facts.exit_code = self.client.api.wait(container_id, timeout=60).get("StatusCode")
                state = self.client.api.inspect_container(container_id)["State"]
                # The engine's own timestamps are exact; some runtimes (gVisor) leave them
                # equal, and then the time the output stream stayed open stands in.
                usage.wall_time = _elapsed(state.get("StartedAt"), state.get("FinishedAt")) or streamed_for
                if state.get("OOMKilled") or cgroup.oom_kills():
                    execution.limits_hit.add("memory")
        except ExecutorError as error:
            facts.error = error.reason
        except Exception as error:  # noqa: BLE001 - a result must always come back
            log.exception("sandbox run %s failed", execution.execution_id)
            facts.error = f"unexpected sandbox failure: {type(error).__name__}: {error}"
        finally:
            execution.finished.set()
            if watcher is not None:
                watcher.join()
            final = cgroup.read() if self._cgroup_parents else CgroupUsage()
            usage.cpu_time = max(final.cpu_time, execution.peak.cpu_time)
            usage.peak_memory = max(final.peak_memory, execution.peak.peak_memory)
            usage.peak_processes = max(final.processes, execution.peak.processes)
            self._cleanup(execution, cgroup, staging)
        facts.cancelled = facts.cancelled or execution.cancelled
        if facts.exit_code == _EXIT_SIGXCPU:
            execution.limits_hit.add("cpu_time")
        elif facts.exit_code == _EXIT_SIGXFSZ:
            execution.limits_hit.add("disk")
        elif (
            facts.exit_code == _EXIT_SIGKILL
            and not execution.limits_hit & {"timeout", "cpu_time", "max_output"}
            and not facts.cancelled
            and usage.peak_memory >= limits.memory - _OOM_SLACK
        ):
            # SIGKILLed by none of our limits, at the memory limit: the OOM killer.
            # Docker's OOMKilled flag misses some of these under gVisor, and a
            # cgroup v1 parent does not count its children's OOM kills.
            execution.limits_hit.add("memory")
        return self._result(task, execution, facts, usage, stdout, stderr, image)

    def _result(
        self,
        task: Task,
        execution: _Execution,
        facts: ExecutionFacts,
        usage: ResourceUsage,
        stdout: CappedBuffer,
        stderr: CappedBuffer,
        image: str,
    ) -> TaskResult:
        facts.limits_hit |= execution.limits_hit
        facts.cancelled = facts.cancelled or execution.cancelled
        usage.stdout_bytes, usage.stderr_bytes = stdout.seen, stderr.seen
        status = decide_status(facts)
        return TaskResult(
            execution_id=execution.execution_id,
            status=status,
            exit_code=facts.exit_code,
            stdout=stdout.text(),
            stderr=stderr.text(),
            error=facts.error if status is TaskStatus.ERROR else None,
            resource_usage=usage,
            resource_limits_exceeded=sorted(execution.limits_hit),
            stdout_truncated=stdout.overflowed,
            stderr_truncated=stderr.overflowed,
            node_id=self.node_id,
            image=image,
        )

    # Steps -------------------------------------------------------------------

    def _stage_files(self, task: Task, execution_id: str) -> Path | None:
        """Write the task's files to a host directory that is bind-mounted read-only.

        The root filesystem is read-only and the working directory is a tmpfs
        mounted only at start, so ``put_archive`` cannot reach it; instead the
        container's first step copies this directory into the working directory.
        """
        if not task.files:
            return None
        self.staging_root.mkdir(mode=0o755, parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f"{execution_id}-", dir=self.staging_root))
        staging.chmod(0o755)
        try:
            for relative, content in task.files.items():
                target = staging / relative
                for parent in reversed(target.relative_to(staging).parents[:-1]):
                    (staging / parent).mkdir(mode=0o755, exist_ok=True)
                target.write_bytes(content.encode() if isinstance(content, str) else content)
                target.chmod(0o755)
        except BaseException:
            # _run only learns the directory on success, so a failure here must remove it.
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return staging

    def _create(
        self, task: Task, image: str, limits: ResolvedLimits, execution: _Execution, staging: Path | None
    ) -> str:
        labels = {
            LABEL: "1",
            LABEL_EXECUTION_ID: execution.execution_id,
            LABEL_NODE_ID: self.node_id,
            LABEL_OWNER: self.owner,
        }
        parent = f"/faber-ray/{execution.execution_id}" if self._cgroup_parents else None
        spec = container_spec(task, limits, self.config, labels=labels, staging=staging, cgroup_parent=parent)
        host_config = self.client.api.create_host_config(**spec.host)
        created: dict[str, Any] = self.client.api.create_container(image, host_config=host_config, **spec.container)
        return str(created["Id"])

    def _start(self, container_id: str, task: Task, facts: ExecutionFacts, stderr: CappedBuffer) -> bool:
        """Start the container. A missing command is the task's failure (exit 127), not the engine's."""
        try:
            self.client.api.start(container_id)
        except docker.errors.APIError as error:
            text = str(error.explanation or error)
            if any(hint in text.lower() for hint in _NOT_FOUND_HINTS):
                facts.exit_code = 127
                stderr.feed(f"faber-ray: command not found: {task.command}\n".encode())
                return False
            raise
        return True

    def _locate_cgroup(self, container_id: str, cgroup: SandboxCgroup) -> None:
        """Without our parent cgroup (a systemd cgroup driver) the only map to the
        container's cgroup is its process; without it nothing can be measured."""
        pid = self.client.api.inspect_container(container_id)["State"].get("Pid") or 0
        if pid and not cgroup.locate_process(pid):
            log.warning(
                "cannot see process %d of container %s: CPU time, memory and process counts go unmeasured, "
                "and cpu_time is enforced only per process (RLIMIT_CPU)", pid, container_id[:12],
            )

    @staticmethod
    def _feed_stdin(sock: socket.socket, stdin: str | bytes | None) -> None:
        """Send stdin in a thread (a big stdin must not block reading output), then close it."""

        def feed() -> None:
            try:
                if stdin:
                    sock.sendall(stdin.encode() if isinstance(stdin, str) else stdin)
                sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass  # the process exited without reading all of stdin

        if stdin:
            threading.Thread(target=feed, name="stdin", daemon=True).start()
        else:
            feed()

    def _watch(self, execution: _Execution, cgroup: SandboxCgroup, limits: ResolvedLimits) -> None:
        """Enforce the wall clock and CPU time until the run finishes.

        Sampling is the only way to see CPU time across every process: RLIMIT_CPU
        does not stop a namespace's PID 1. The wait is on the ``finished`` event,
        so the watcher exits the moment the task does.
        """
        deadline = time.monotonic() + limits.timeout
        while True:
            remaining = deadline - time.monotonic()
            cpu_left = limits.cpu_time - execution.peak.cpu_time
            interval = max(0.005, min(SAMPLE_INTERVAL, remaining, cpu_left / self.config.sandbox_cpus))
            if execution.finished.wait(interval):
                return
            sample = cgroup.read(container=not self._cgroup_parents)
            self._record(execution, sample, cgroup)
            if sample.cpu_time >= limits.cpu_time:
                self._limit_hit(execution, "cpu_time")
                return
            if time.monotonic() >= deadline:
                self._limit_hit(execution, "timeout")
                return

    def _record(self, execution: _Execution, sample: CgroupUsage, cgroup: SandboxCgroup) -> None:
        peak = execution.peak
        peak.cpu_time = max(peak.cpu_time, sample.cpu_time)
        peak.peak_memory = max(peak.peak_memory, sample.peak_memory)
        peak.processes = max(peak.processes, sample.processes)
        # One file, not a second full read: the parent's sample does not count the
        # container's refused forks.
        if cgroup.container_id and cgroup.container_pids_limit_hits():
            execution.limits_hit.add("max_processes")

    def _output_overflow(self, execution: _Execution) -> None:
        """Kill from another thread: the engine will not finish the kill while the
        reader (this thread) stops draining the stream it is still writing to."""
        execution.limits_hit.add("max_output")
        threading.Thread(target=self._kill, args=(execution,), name="kill-output", daemon=True).start()

    def _limit_hit(self, execution: _Execution, limit: str) -> None:
        execution.limits_hit.add(limit)
        self._kill(execution)

    def _kill(self, execution: _Execution) -> None:
        if execution.container_id is None:
            return
        try:
            self.client.api.kill(execution.container_id)
        except docker.errors.APIError:
            pass  # already stopped or removed: the goal is reached

    def _cleanup(self, execution: _Execution, cgroup: SandboxCgroup, staging: Path | None) -> None:
        if execution.container_id is not None:
            try:
                self.client.api.remove_container(execution.container_id, force=True)
            except docker.errors.NotFound:
                pass
            except docker.errors.APIError as error:
                if error.status_code != 409:  # 409: a reaper is already removing it
                    log.warning("could not remove container %s: %s; the reaper will", execution.container_id, error)
            except docker.errors.DockerException as error:
                log.warning("could not remove container %s: %s; the reaper will", execution.container_id, error)
        cgroup.remove()
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)


def _elapsed(started: str | None, finished: str | None) -> float:
    """Seconds between two Docker timestamps (RFC 3339 with nanoseconds)."""
    if not started or not finished:
        return 0.0
    try:
        return max(0.0, (_parse_time(finished) - _parse_time(started)))
    except ValueError:
        return 0.0


def _parse_time(stamp: str) -> float:
    main, _, rest = stamp.rstrip("Z").partition(".")
    fraction = "".join(ch for ch in rest if ch.isdigit())
    moment = datetime.strptime(main, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
    return moment.timestamp() + (float("0." + fraction) if fraction else 0.0)
