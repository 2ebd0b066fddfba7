"""``SandboxRunner``: run tasks in locked-down containers on one Docker engine, fresh or warm.

Fresh mode makes a container for each task and removes it afterwards. Warm
mode keeps containers (one per concurrent task, by profile) and resets them
between tasks: the agent kills every process, empties the writable mounts
and SysV IPC and proves it; anything it cannot prove, and any task that ended
by a limit, a cancel or an error, recycles the container instead. Both modes
share everything else: the container spec, the agent, the per-run cgroup,
the output caps and the status rules. ``run`` never raises.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Literal

import docker

from faber_ray.config import ExecutorConfig
from faber_ray.errors import ExecutorError
from faber_ray.ids import new_execution_id
from faber_ray.models import Task, TaskResult, TaskStatus
from faber_ray.sandbox.agent.build import agent_binary
from faber_ray.sandbox.collection import collect
from faber_ray.sandbox.container import SandboxContainer
from faber_ray.sandbox.engine import connect, docker_errors
from faber_ray.judging.cases import Verdict
from faber_ray.judging.scoring import Judged
from faber_ray.sandbox.execution import Execution, NotStarted, OutputListener, RunRecord, run_once
from faber_ray.sandbox.judge import Judgement, judge_tests, judged_result
from faber_ray.sandbox.labels import labels_for
from faber_ray.sandbox.outcome import RunFacts, judge_run
from faber_ray.sandbox.pool import WarmPool
from faber_ray.sandbox.agent.protocol import ExitFlag
from faber_ray.sandbox.report import Outcome, TaskReport, build_result
from faber_ray.sandbox.spec import AGENT_PROCESSES, SandboxProfile, outer_memory
from faber_ray.sandbox.streams import OutputBudget
from faber_ray.sandbox.uids import HostUids, parse_user
from faber_ray.steps import Run, runs_of
from faber_ray.validation import validate_task

__all__ = ["SandboxRunner"]

log = logging.getLogger(__name__)

Mode = Literal["warm", "fresh"]
#: Statuses after which a warm container may serve again: the task ended by itself.
_REUSABLE = {TaskStatus.SUCCESS, TaskStatus.FAILURE}
#: Runs that failed before their task started (a sandbox found dead) go again on another this many times.
START_RETRIES = 2
GVISOR_FALLBACK = (
    "warm mode falls back to fresh containers under gVisor: it does not expose the SysV IPC table, "
    "so a reset could not be proven clean"
)



class SandboxRunner:
    """Runs tasks in containers on one Docker engine; thread-safe, one call per task."""

    def __init__(
        self,
        config: ExecutorConfig | None = None,
        *,
        node_id: str = "",
        owner: str = "",
        client: docker.DockerClient | None = None,
        capacity: int | None = None,
    ) -> None:
        self.config = config or ExecutorConfig()
        self.node_id = node_id
        self.owner = owner
        self.client = client or connect(self.config.docker_host)
        self._agent: Path = agent_binary()
        uid, gid = parse_user(self.config.sandbox_user)
        # Beside the agent: the one directory every faber-ray process of this node shares (see uids.py).
        self._uids = HostUids(self._agent.parent / "uids", uid, gid, self.config.sandbox_uids)
        gvisor = self.config.runtime == "runsc"
        self.mode: Mode = "fresh" if gvisor else self.config.sandbox_mode
        self.fallback = GVISOR_FALLBACK if gvisor and self.config.sandbox_mode == "warm" else None
        if self.fallback:
            log.warning("%s", self.fallback)
        self._cgroup_parent = "/faber-ray" if self.client.info().get("CgroupDriver") == "cgroupfs" else None
        self._pool: WarmPool[SandboxContainer] = WarmPool(
            capacity or self.config.max_concurrent_tasks, self.config.warm_max_uses, self.config.warm_idle_seconds
        )
        self._volumes: dict[str, tuple[str, ...]] = {}
        self._active: dict[str, Execution] = {}
        self._cancel_pending: dict[str, str] = {}
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._closed = threading.Event()
        self._sweeping = threading.Lock()  # held while the sweeper removes what it took out of the pool
        if self.mode == "warm":
            threading.Thread(target=self._sweep, name="warm-sweeper", daemon=True).start()

    # Public ------------------------------------------------------------------

    def run(
        self, task: Task, execution_id: str | None = None, listener: OutputListener | None = None,
        *, checked: bool = False,
    ) -> TaskResult:
        """Run ``task`` to completion and return its result. Never raises.

        The task is checked with ``validate_task`` first (a ``Task`` may have been built with
        ``model_construct`` or mutated), unless ``checked`` says it is exactly what ``validate_task``
        returned under this runner's config: the executor's checked copy, unpickled on the worker, or
        the CLI's own. Checking again would cost the worker about a tenth of its CPU per task.
        """
        execution = Execution(execution_id or new_execution_id(), listener=listener)
        with self._lock:
            if execution.execution_id in self._cancel_pending:
                execution.cancelled = True
                execution.cancel_reason = self._cancel_pending.pop(execution.execution_id)
            self._active[execution.execution_id] = execution
        try:
            return self._run(task, execution, checked)
        finally:
            execution.finished.set()
            with self._lock:
                self._active.pop(execution.execution_id, None)
                if not self._active:
                    self._idle.notify_all()

    def cancel(self, execution_id: str, *, before_start: bool = False, reason: str = "cancelled") -> bool:
        """Kill a running task so that it ends ``CANCELLED``; False if it is not running here.

        With ``before_start`` an id that is not running yet is remembered, and
        its ``run`` ends ``CANCELLED`` without starting anything; this closes
        the race between handing a task over and cancelling it.
        """
        with self._lock:
            execution = self._active.get(execution_id)
            if execution is None:
                if before_start:
                    self._cancel_pending[execution_id] = reason
                return before_start
        execution.cancel(reason)
        return True

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until no task runs here (True) or ``timeout`` passes (False)."""
        with self._idle:
            return self._idle.wait_for(lambda: not self._active, timeout)

    def running(self) -> list[str]:
        """Execution ids running now."""
        with self._lock:
            return list(self._active)

    def warm_containers(self) -> int:
        """Containers kept for reuse, idle or busy."""
        return len(self._pool)

    def drain_idle(self) -> int:
        """Remove every idle warm container now; returns how many. The runner stays usable.

        It also waits for the sweeper's removal in flight, if any, so that no
        idle container of this runner is left, nor one half removed, when it returns.
        """
        idle = self._pool.drain()
        for container in idle:
            container.remove()
        with self._sweeping:
            pass
        return len(idle)

    def close(self) -> int:
        """Stop keeping containers and remove the idle ones; returns how many. Running tasks
        finish first (see ``wait_idle``), and their containers are removed when they do."""
        self._closed.set()
        return self.drain_idle()

    # One task ----------------------------------------------------------------

    def _run(self, task: Task, execution: Execution, checked: bool) -> TaskResult:
        report = TaskReport()
        image = getattr(task, "image", None) or self.config.default_image
        try:
            if not checked:
                task = validate_task(task, self.config)  # the sandbox layer is safe on its own
        except ExecutorError as error:
            report.error = f"the task is invalid: {error}"
            return self._result(report, execution, task, image, self.mode)
        if execution.cancelled:
            return self._result(report, execution, task, image, self.mode)
        runs = runs_of(task, self.config)
        requested = time.monotonic()
        for attempt in range(START_RETRIES + 1):
            report = TaskReport()
            retry, mode = self._attempt(task, runs, execution, report, image, requested, last=attempt == START_RETRIES)
            if not retry:
                break
        return self._result(report, execution, task, image, mode)

    def _attempt(
        self, task: Task, runs: list[Run], execution: Execution, report: TaskReport, image: str, requested: float,
        *, last: bool,
    ) -> tuple[bool, Mode]:
        """Run ``task`` on one container. Returns whether it failed before the task could start (its
        container died first) and may go again on another, and the mode that really ran (see ``_release``)."""
        container: SandboxContainer | None = None
        taken = retry = pooled = False
        judged_clean = True
        try:
            with docker_errors(image, self.config.runtime):
                volumes = self._image_volumes(image)
                profile = SandboxProfile(image, max(run.limits.disk for run in runs), task.network, volumes)
                container, taken = self._acquire(profile, runs, execution)
            execution.container = container
            if task.judging is None:
                self._run_steps(container, task, runs, execution, report, requested)
            else:
                judged_clean = self._judge(container, task, runs, execution, report, requested)
            if task.collect and report.outcomes and not execution.cancelled and not report.outcomes[-1].record.died:
                report.files, report.file_errors = collect(
                    container, task.collect,
                    max_files=self.config.max_collected_files, max_bytes=self.config.max_collected_bytes,
                )
        except NotStarted as error:
            report.error = f"the sandbox failed before the task started: {error.reason}"
            retry = not last and not execution.cancelled
            if retry:
                log.warning("task %s: %s; running it on another sandbox", execution.execution_id, report.error)
        except ExecutorError as error:
            report.error = error.reason
        except Exception as error:  # noqa: BLE001 - a result must always come back
            log.exception("sandbox run %s failed", execution.execution_id)
            report.error = f"unexpected sandbox failure: {type(error).__name__}: {error}"
        finally:
            execution.container = None
            if container is not None:
                ran = report.outcomes + [one for one in (report.judgement.outcomes if report.judgement else []) if one]
                clean = judged_clean and report.error is None and not execution.cancelled and all(
                    outcome.status in _REUSABLE and outcome.facts.error is None for outcome in ran
                )
                pooled = self._release(container, reusable=clean)
        return retry, "warm" if taken or pooled else "fresh"

    def _run_steps(
        self, container: SandboxContainer, task: Task, runs: list[Run], execution: Execution,
        report: TaskReport, requested: float,
    ) -> None:
        """Each run in turn in one container; a run that does not succeed stops the rest unless it
        may continue (a cancel, an error or a dead sandbox always stop them). Their output
        together is held to ``max_task_output``."""
        budget = OutputBudget(self.config.max_task_output)
        for number, run in enumerate(runs):
            execution.step = number if task.steps is not None else None
            try:
                record = run_once(
                    container, run, execution, self.config,
                    files=task.files if number == 0 else None, requested_at=requested if number == 0 else None,
                    budget=budget,
                )
            except NotStarted:
                if number == 0:
                    raise  # nothing of the task ran: it may go again on another container
                report.outcomes.append(Outcome(RunRecord(died=True), RunFacts(cancelled=execution.cancelled)))
                return
            except ExecutorError as error:
                report.outcomes.append(Outcome(RunRecord(), RunFacts(cancelled=execution.cancelled, error=error.reason)))
                return
            facts = judge_run(
                record.report, record.usage, run.limits, run.argv[0],
                cpu_kill_sent=record.cpu_kill_sent, cancelled=execution.cancelled, died=record.died,
                shared_cgroup=container.shared_cgroup,
            )
            if facts.note:  # e.g. "command not found": what a shell would print, live as well as in the result
                record.stderr.feed(facts.note.encode())
                if execution.listener is not None:
                    execution.listener(execution.step, "stderr", facts.note.encode())
            outcome = Outcome(record, facts)
            report.outcomes.append(outcome)
            stop = outcome.status in (TaskStatus.CANCELLED, TaskStatus.ERROR) or record.died
            if stop or (outcome.status is not TaskStatus.SUCCESS and not run.continue_on_failure):
                return
            if number + 1 < len(runs) and record.report and record.report.flags & ExitFlag.IPC_LEFT:
                # The agent removes what each run left in IPC; if it could not, the next must not see it.
                report.error = f"the sandbox could not clear what step {number} left in IPC: {record.report.message}"
                return

    def _judge(
        self, container: SandboxContainer, task: Task, runs: list[Run], execution: Execution,
        report: TaskReport, requested: float,
    ) -> bool:
        """A judged task: its setup steps (the compile) as steps, then its last step once per test
        (see ``faber_ray.sandbox.judge``). Returns whether the container may serve again."""
        assert task.judging is not None
        if len(runs) > 1:
            self._run_steps(container, task, runs[:-1], execution, report, requested)
        judgement, error, clean = judge_tests(
            container, task.judging, runs[-1], execution, self.config, self, setup=report.outcomes,
            disk=max(run.limits.disk for run in runs), files=task.files,
        )
        report.judgement = judgement
        report.error = report.error or error
        return clean

    # A custom checker's own sandbox (faber_ray.sandbox.judge.Sandboxes) ---------

    def open_sandbox(self, image: str, runs: list[Run], execution: Execution) -> SandboxContainer:
        """A container for a checker, from the same pool and with the same lockdown as a task's."""
        with docker_errors(image, self.config.runtime):
            profile = SandboxProfile(image, max(run.limits.disk for run in runs), False, self._image_volumes(image))
            container, _ = self._acquire(profile, runs, execution)
        return container

    def close_sandbox(self, container: SandboxContainer, *, clean: bool) -> None:
        self._release(container, reusable=clean)

    def _image_volumes(self, image: str) -> tuple[str, ...]:
        """The image's VOLUME paths, which get a size-limited tmpfs instead of a host volume."""
        if image not in self._volumes:
            config = self.client.api.inspect_image(image).get("Config") or {}
            self._volumes[image] = tuple(sorted(config.get("Volumes") or {}))
        return self._volumes[image]

    def _acquire(self, profile: SandboxProfile, runs: list[Run], execution: Execution) -> tuple[SandboxContainer, bool]:
        """A container for ``profile``: an idle warm one proven clean and alive (True), or a new one
        (False), bounded for every run. A new one that fails to start gives its pool place back."""
        memory = max(run.limits.memory for run in runs)
        processes = max(run.limits.max_processes for run in runs)
        if self.mode == "warm":
            container, evicted = self._pool.take(profile)
            for old in evicted:
                old.remove()
            if container is not None:
                doubt = _ready_for_use(container, outer_memory(memory, profile.disk, len(profile.volumes) + 2),
                                       processes + AGENT_PROCESSES)
                if doubt is None:
                    return container, True
                log.warning("warm sandbox %s recycled: %s", container.id[:12], doubt)
                container.remove()
        labels = labels_for(self.node_id, self.owner, execution.execution_id, self.mode)
        parent = self._cgroup_parent
        if parent and self.config.runtime == "runsc":
            # gVisor's OOM kill takes the whole sandbox: a parent of its own keeps the peak readable after.
            parent = f"{parent}/{execution.execution_id}"
        try:
            container = SandboxContainer.start(
                self.client, profile, self.config, agent=self._agent, labels=labels,
                memory=memory, max_processes=processes, cgroup_parent=parent, lease=self._uids.lease(),
            )
        except BaseException:
            if self.mode == "warm":
                self._pool.give(None)  # the place taken for it is free again
            raise
        return container, False

    def _release(self, container: SandboxContainer, *, reusable: bool) -> bool:
        """End the container's use. True if it held a place in the warm pool: kept for the next task, or
        recycled because of how this task ended. False if it served this task alone: fresh mode, or a
        reusable container the pool had no room for (its result then says ``fresh``, which it was)."""
        container.uses += 1
        if self.mode != "warm":
            container.remove()
            return False
        if reusable and not self._closed.is_set():
            try:
                container.begin_reset()
            except ExecutorError:
                reusable = False
        if reusable and not self._closed.is_set():
            if self._pool.give(container):
                return True
            container.remove()
            return False
        self._pool.give(None)
        container.remove()
        return True

    def _sweep(self) -> None:
        """Recycle warm containers idle past ``warm_idle_seconds`` (checked a few times per period)."""
        period = max(0.5, min(5.0, self.config.warm_idle_seconds / 4))
        while not self._closed.wait(period):
            with self._sweeping:
                for container in self._pool.expired():
                    container.remove()

    # Results -----------------------------------------------------------------

    def _result(self, report: TaskReport, execution: Execution, task: Task, image: str, sandbox: Mode) -> TaskResult:
        judging = getattr(task, "judging", None)
        if judging is not None:
            if report.judgement is None:  # it never got to the tests: the sandbox failed, or a cancel came first
                report.judgement = Judgement(judging, [Judged(Verdict.SKIPPED)] * len(judging.tests),
                                             [None] * len(judging.tests))
            return judged_result(report, execution, node_id=self.node_id, image=image, sandbox=sandbox)
        return build_result(
            report, execution, has_steps=getattr(task, "steps", None) is not None,
            node_id=self.node_id, image=image, sandbox=sandbox,
        )


def _ready_for_use(container: SandboxContainer, memory: int, processes: int) -> str | None:
    """None when an idle warm container proved its reset clean, is alive, and took the next task's
    outer limits; else why it must go (it may have been killed from outside while it sat idle)."""
    try:
        doubt = container.end_reset()
        if doubt is None and not container.alive():
            doubt = "it died while idle (killed or removed from outside)"
        if doubt is None:
            container.cgroup.set_outer_limits(memory, processes)
        return doubt
    except ExecutorError as error:
        return error.reason

