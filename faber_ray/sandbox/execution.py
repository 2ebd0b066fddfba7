"""Drive one run (a task's command, or one of its steps) through a container's agent.

The run gets a cgroup of its own with its limits, the stub joins it, then the
task goes over in one write: its specification, its files (first run only),
its stdin, and GO. While the agent relays output and enforces the wall
clock, this thread samples the run's CPU time (the only limit the kernel
cannot enforce across processes) and watches for a cancel.
"""

from __future__ import annotations

import math
import resource
import struct
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from faber_ray.config import ExecutorConfig, ResolvedLimits
from faber_ray.errors import SandboxError
from faber_ray.sandbox.cgroup import CgroupUsage
from faber_ray.sandbox.agent.channel import ChannelClosed
from faber_ray.sandbox.container import SandboxContainer
from faber_ray.sandbox.agent.protocol import MAX_DATA, AgentMessage, ExitReport, HostMessage, frame, spec_payload
from faber_ray.sandbox.streams import CappedBuffer, OutputBudget
from faber_ray.steps import Run

__all__ = ["NotStarted", "OutputListener", "RunRecord", "Execution", "run_once"]

SAMPLE_INTERVAL = 0.1
#: How often the agent counts a gVisor task's processes (the host cannot see them).
GVISOR_SAMPLE_MS = 10
#: How long past its timeout a run may go before the agent is presumed stuck (the container is then recycled).
AGENT_GRACE = 10.0

#: Called with (step number or None, "stdout" | "stderr", bytes) as output arrives, for live streaming.
OutputListener = Callable[[int | None, str, bytes], None]
_STREAMS = {1: "stdout", 2: "stderr"}


class NotStarted(SandboxError):
    """The sandbox failed before the command could start (its agent died, its cgroup went): nothing of
    the task ran, so it may run again on another container."""


@dataclass
class Execution:
    """What ``cancel`` shares with the thread running the task."""

    execution_id: str
    cancelled: bool = False
    cancel_reason: str = "cancelled"
    container: SandboxContainer | None = None
    listener: OutputListener | None = None
    step: int | None = None  #: the step running now (None for a command task)
    finished: threading.Event = field(default_factory=threading.Event)

    def cancel(self, reason: str = "cancelled") -> None:
        self.cancel_reason = reason
        self.cancelled = True
        container = self.container
        if container is not None:
            container.channel.wake()


@dataclass
class RunRecord:
    """What was seen of one run, before it is judged."""

    report: ExitReport | None = None
    usage: CgroupUsage = field(default_factory=CgroupUsage)
    stdout: CappedBuffer = field(default_factory=lambda: CappedBuffer(0))
    stderr: CappedBuffer = field(default_factory=lambda: CappedBuffer(0))
    cpu_kill_sent: bool = False
    died: bool = False  #: the container stopped during the run (killed from outside, or gVisor's OOM kill)
    error: str | None = None
    wall_time: float = 0.0
    startup_time: float = 0.0
    sampled_peak: int = 0  #: the agent's live count of a gVisor task's processes (kept if no EXIT comes)


def rlimits(limits: ResolvedLimits, *, gvisor: bool) -> dict[int, tuple[int, int]]:
    """The per-process backstops the stub sets before exec (cgroups hold the totals)."""
    cpu = math.ceil(limits.cpu_time) + 1
    chosen = {
        resource.RLIMIT_CPU: (cpu, cpu + 1),
        resource.RLIMIT_FSIZE: (limits.disk, limits.disk),
        resource.RLIMIT_CORE: (0, 0),
        resource.RLIMIT_NOFILE: (1024, 1024),
    }
    if gvisor:
        # gVisor counts processes per sandbox and user, each under the uid that forked it: the task's
        # first process was forked by the agent (root, see spec.py) before it became the task's user,
        # so only the processes it starts count, and max_processes - 1 of them make max_processes.
        nproc = limits.max_processes - 1
        chosen[resource.RLIMIT_NPROC] = (nproc, nproc)
    return chosen


def _staging(files: Mapping[str, str | bytes] | None, stdin: bytes | None) -> list[bytes]:
    parts = []
    for path, content in (files or {}).items():
        data = content.encode() if isinstance(content, str) else content
        parts.append(frame(HostMessage.FILE, struct.pack(">I", 0o755) + path.encode()))
        parts += [frame(HostMessage.DATA, data[at : at + MAX_DATA]) for at in range(0, len(data), MAX_DATA)]
    if stdin:
        parts += [frame(HostMessage.STDIN, stdin[at : at + MAX_DATA]) for at in range(0, len(stdin), MAX_DATA)]
    return parts


def run_once(
    container: SandboxContainer,
    plan: Run,
    execution: Execution,
    config: ExecutorConfig,
    *,
    files: Mapping[str, str | bytes] | None = None,
    requested_at: float | None = None,
    budget: OutputBudget | None = None,
) -> RunRecord:
    """Run ``plan`` in ``container`` to its end; every process it started is gone on return.

    ``budget`` is what the task may still keep of its output over all its runs; the run takes
    what it keeps from it.
    """
    limits = plan.limits
    budget = budget if budget is not None else OutputBudget(config.max_task_output)
    record = RunRecord(
        stdout=CappedBuffer(limits.max_output, budget), stderr=CappedBuffer(limits.max_output, budget)
    )
    try:
        account = container.accounting(limits.memory, limits.max_processes)
    except SandboxError as error:
        raise NotStarted(error.reason) from None
    try:
        try:
            account.attach(container.take_stub())
        except SandboxError as error:
            raise NotStarted(error.reason) from None
        spec = spec_payload(
            plan.argv, plan.env, config.work_dir,
            timeout_ms=max(1, math.ceil(limits.timeout * 1000)), max_output=limits.max_output,
            rlimits=rlimits(limits, gvisor=container.shared_cgroup),
            sample_ms=GVISOR_SAMPLE_MS if container.shared_cgroup else 0, max_total=budget.left,
        )
        parts = [frame(HostMessage.SPEC, spec), *_staging(files, plan.stdin), frame(HostMessage.GO)]
        started = time.monotonic()
        record.startup_time = started - (requested_at if requested_at is not None else started)
        try:
            container.channel.send(b"".join(parts))
        except ChannelClosed as error:
            raise NotStarted(error.reason) from None
        try:
            _follow(container, account.cpu_time, limits, execution, record, started, config.sandbox_cpus)
        except ChannelClosed:
            record.died = True
        record.wall_time = record.report.wall_ns / 1e9 if record.report else time.monotonic() - started
    finally:
        record.usage = account.read()
        account.remove()
    if container.shared_cgroup:
        # The host sees the Sentry's threads, not the task's processes: the agent counted those.
        record.usage.processes = record.report.peak_processes if record.report else record.sampled_peak
    return record


def _follow(
    container: SandboxContainer,
    cpu_time: Callable[[], float],
    limits: ResolvedLimits,
    execution: Execution,
    record: RunRecord,
    started: float,
    cpus: float,
) -> None:
    """Relay frames until EXIT, sampling CPU time in between and passing on a cancel."""
    deadline = started + limits.timeout + AGENT_GRACE
    kill_sent = False
    next_sample = started + max(0.005, min(SAMPLE_INTERVAL, limits.cpu_time / cpus))
    while True:
        if execution.cancelled and not kill_sent:
            container.kill()
            kill_sent = True
        now = time.monotonic()
        if now >= next_sample:
            used = cpu_time()
            if used >= limits.cpu_time and not kill_sent:
                record.cpu_kill_sent = kill_sent = True
                container.kill()
            if now > deadline:
                raise SandboxError(
                    f"the sandbox {container.id[:12]} did not end the task {AGENT_GRACE:.0f} s past its timeout"
                )
            # Closer together as the CPU limit nears, so it is overshot by little.
            next_sample = now + max(0.005, min(SAMPLE_INTERVAL, (limits.cpu_time - used) / cpus))
        message = container.channel.receive(max(0.0, next_sample - now))
        if message is None:
            continue
        kind, payload = message
        if kind == AgentMessage.OUT:
            stream = _STREAMS.get(payload[0])
            buffer = record.stdout if payload[0] == 1 else record.stderr
            before = buffer.kept
            buffer.feed(payload[1:])
            kept = payload[1 : 1 + buffer.kept - before]  # live output never exceeds what the result keeps
            if execution.listener is not None and stream and kept:
                execution.listener(execution.step, stream, kept)
        elif kind == AgentMessage.EXIT:
            record.report = ExitReport.parse(payload)
            # The agent capped what it sent; it counted everything.
            record.stdout.seen = record.report.stdout_bytes
            record.stderr.seen = record.report.stderr_bytes
            return
        elif kind == AgentMessage.PEAK:
            record.sampled_peak = int.from_bytes(payload[:4], "big")
        elif kind == AgentMessage.FATAL:
            raise SandboxError(f"the sandbox agent failed: {payload.decode(errors='replace')}")
