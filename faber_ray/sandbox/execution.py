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
from faber_ray.sandbox.cgroup import CgroupUsage, ChildCgroup, SharedCgroup
from faber_ray.sandbox.agent.channel import ChannelClosed
from faber_ray.sandbox.container import SandboxContainer
from faber_ray.sandbox.agent.protocol import MAX_DATA, AgentMessage, ExitReport, HostMessage, frame, spec_payload
from faber_ray.sandbox.streams import CappedBuffer, OutputBudget
from faber_ray.steps import Run

__all__ = ["NotStarted", "OutputListener", "RunRecord", "Execution", "Running", "run_once"]

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


class Running:
    """One run started in a container, driven to its end by whoever reads its agent's frames.

    :func:`run_once` drives one; :mod:`faber_ray.sandbox.interaction` drives two at once (an interactive
    problem), which is why starting, sampling, taking a frame and finishing are separate steps.
    """

    def __init__(
        self, container: SandboxContainer, plan: Run, execution: Execution, config: ExecutorConfig, *,
        budget: OutputBudget | None = None, live_stdin: bool = False,
    ) -> None:
        self.container = container
        self.plan = plan
        self.execution = execution
        self.cpus = config.sandbox_cpus
        self.work_dir = config.work_dir
        self.live_stdin = live_stdin
        limits = plan.limits
        self.budget = budget if budget is not None else OutputBudget(config.max_task_output)
        self.record = RunRecord(
            stdout=CappedBuffer(limits.max_output, self.budget), stderr=CappedBuffer(limits.max_output, self.budget)
        )
        #: Called with what the run wrote to stdout, as it arrives (an interactive run's other side).
        self.on_stdout: Callable[[bytes], None] | None = None
        self.ended = False
        self.sent = False  #: the task and GO went to the agent: it ran, or runs
        self.started = self.deadline = self.next_sample = 0.0
        self._kill_sent = False
        self._account: ChildCgroup | SharedCgroup | None = None

    def start(self, files: Mapping[str, str | bytes] | None = None, requested_at: float | None = None) -> None:
        """Make its cgroup, take the stub, send the task and GO. ``NotStarted`` if the sandbox failed first
        (then nothing is left to finish)."""
        limits = self.plan.limits
        container = self.container
        try:
            self._account = container.accounting(limits.memory, limits.max_processes)
        except SandboxError as error:
            raise NotStarted(error.reason) from None
        try:
            try:
                self._account.attach(container.take_stub())
            except SandboxError as error:
                raise NotStarted(error.reason) from None
            spec = spec_payload(
                self.plan.argv, self.plan.env, self.work_dir,
                timeout_ms=max(1, math.ceil(limits.timeout * 1000)), max_output=limits.max_output,
                rlimits=rlimits(limits, gvisor=container.shared_cgroup),
                sample_ms=GVISOR_SAMPLE_MS if container.shared_cgroup else 0, max_total=self.budget.left,
                live_stdin=self.live_stdin,
            )
            stdin = None if self.live_stdin else self.plan.stdin
            parts = [frame(HostMessage.SPEC, spec), *_staging(files, stdin), frame(HostMessage.GO)]
            self.started = time.monotonic()
            self.record.startup_time = self.started - (requested_at if requested_at is not None else self.started)
            self.deadline = self.started + limits.timeout + AGENT_GRACE
            self.next_sample = self.started + max(0.005, min(SAMPLE_INTERVAL, limits.cpu_time / self.cpus))
            try:
                container.channel.send(b"".join(parts))
            except ChannelClosed as error:
                raise NotStarted(error.reason) from None
            self.sent = True
        except BaseException:
            self._close_account()
            raise

    def kill(self) -> None:
        if not self._kill_sent:
            self._kill_sent = True
            self.container.kill()

    def send_stdin(self, data: bytes) -> None:
        """Live stdin (``live_stdin``): ``data`` for the run to read; empty ends its input. Dropped once it
        ended, or if its sandbox is gone (its own reading says so)."""
        if self.ended:
            return
        parts = [data[at : at + MAX_DATA] for at in range(0, len(data), MAX_DATA)] or [b""]
        try:
            self.container.channel.send(b"".join(frame(HostMessage.STDIN, part) for part in parts))
        except ChannelClosed:
            pass

    def wait(self) -> float:
        """Seconds until the next CPU sample is due."""
        return max(0.0, self.next_sample - time.monotonic())

    def tick(self) -> None:
        """Pass on a cancel; sample CPU time when due, killing the run at its limit."""
        if self.execution.cancelled:
            self.kill()
        now = time.monotonic()
        if now < self.next_sample:
            return
        limits = self.plan.limits
        used = self.cpu_time()
        if used >= limits.cpu_time and not self._kill_sent:
            self.record.cpu_kill_sent = True
            self.kill()
        if now > self.deadline:
            raise SandboxError(
                f"the sandbox {self.container.id[:12]} did not end the task {AGENT_GRACE:.0f} s past its timeout"
            )
        # Closer together as the CPU limit nears, so it is overshot by little.
        self.next_sample = now + max(0.005, min(SAMPLE_INTERVAL, (limits.cpu_time - used) / self.cpus))

    def cpu_time(self) -> float:
        return self._account.cpu_time() if self._account is not None else 0.0

    def take(self, kind: int, payload: bytes) -> bool:
        """One frame from the agent; True when it was the run's EXIT."""
        record, execution = self.record, self.execution
        if kind == AgentMessage.OUT:
            stream = _STREAMS.get(payload[0])
            buffer = record.stdout if payload[0] == 1 else record.stderr
            before = buffer.kept
            buffer.feed(payload[1:])
            kept = payload[1 : 1 + buffer.kept - before]  # live output never exceeds what the result keeps
            if execution.listener is not None and stream and kept:
                execution.listener(execution.step, stream, kept)
            if self.on_stdout is not None and payload[0] == 1 and kept:
                self.on_stdout(kept)
        elif kind == AgentMessage.EXIT:
            record.report = ExitReport.parse(payload)
            # The agent capped what it sent; it counted everything.
            record.stdout.seen = record.report.stdout_bytes
            record.stderr.seen = record.report.stderr_bytes
            self.ended = True
        elif kind == AgentMessage.PEAK:
            record.sampled_peak = int.from_bytes(payload[:4], "big")
        elif kind == AgentMessage.FATAL:
            raise SandboxError(f"the sandbox agent failed: {payload.decode(errors='replace')}")
        return self.ended

    def died(self) -> None:
        """Its channel closed: the container stopped during the run."""
        self.record.died = self.ended = True

    def finish(self) -> RunRecord:
        """Read its usage and remove its cgroup: the record, complete."""
        record = self.record
        if not record.wall_time:
            record.wall_time = record.report.wall_ns / 1e9 if record.report else time.monotonic() - self.started
        self._close_account()
        if self.container.shared_cgroup:
            # The host sees the Sentry's threads, not the task's processes: the agent counted those.
            record.usage.processes = record.report.peak_processes if record.report else record.sampled_peak
        return record

    def _close_account(self) -> None:
        if self._account is not None:
            self.record.usage = self._account.read()
            self._account.remove()
            self._account = None


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
    running = Running(container, plan, execution, config, budget=budget)
    running.start(files, requested_at)
    try:
        while not running.ended:
            running.tick()
            message = container.channel.receive(running.wait())
            if message is not None:
                running.take(*message)
    except ChannelClosed:
        running.died()
    finally:
        record = running.finish()
    return record
