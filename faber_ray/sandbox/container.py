"""One sandbox container: its engine calls, its agent channel, its cgroup.

A container is created for a :class:`SandboxProfile`, runs the agent as PID 1
and serves one task (fresh mode) or, reset in between, many (warm mode). The
engine is called only to create, attach, start and remove it: a task in a
warm container costs no Docker API call at all.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
import docker
import docker.errors

from faber_ray.config import ExecutorConfig
from faber_ray.errors import SandboxError
from faber_ray.sandbox.cgroup import ChildCgroup, ContainerCgroup, SharedCgroup
from faber_ray.sandbox.agent.channel import AgentChannel, ChannelClosed
from faber_ray.sandbox.agent.listener import ChannelListener, channels_root
from faber_ray.sandbox.agent.protocol import PROTOCOL_VERSION, AgentMessage, HostMessage, frame
from faber_ray.sandbox.spec import SandboxProfile, container_spec, host_pids
from faber_ray.sandbox.streams import raw_socket
from faber_ray.sandbox.uids import UidLease

__all__ = ["SandboxContainer"]

log = logging.getLogger(__name__)

#: How long a new container's agent may take to say it is ready (gVisor starts slowest).
START_TIMEOUT = 60.0
#: How long the agent may take for a reset, a stub, or a listing.
REPLY_TIMEOUT = 30.0


def _ns_pid(pid: int) -> int | None:
    """The innermost pid of host process ``pid`` (the last field of NSpid)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("NSpid:"):
                return int(line.split()[-1])
    except (OSError, ValueError, IndexError):
        return None
    return None


class SandboxContainer:
    """A started container whose agent is ready; ``uses`` counts the tasks it has served."""

    def __init__(
        self,
        client: docker.DockerClient,
        container_id: str,
        profile: SandboxProfile,
        channel: AgentChannel,
        cgroup: ContainerCgroup,
        *,
        shared_cgroup: bool,
        created_at: float,
        lease: UidLease | None = None,
    ) -> None:
        self.client = client
        self.id = container_id
        self.profile = profile
        self.channel = channel
        self.cgroup = cgroup
        self.shared_cgroup = shared_cgroup
        #: ``ExecutorConfig.node_sandbox_pids``: what bounds a gVisor sandbox's host tasks (None: measured).
        self.pid_budget: int | None = None
        self.created_at = created_at
        self.idle_since = created_at
        self.uses = 0
        self._agent_pid: int | None = None
        self._steps = 0
        self._stub_requested = False
        self._resetting = False
        self._listener: ChannelListener | None = None
        #: The container's own host uid, held for as long as the container lives (see uids.py).
        self.lease = lease

    @classmethod
    def start(
        cls,
        client: docker.DockerClient,
        profile: SandboxProfile,
        config: ExecutorConfig,
        *,
        agent: Path,
        labels: dict[str, str],
        memory: int,
        max_processes: int,
        cgroup_parent: str | None,
        lease: UidLease,
    ) -> SandboxContainer:
        """Create, attach, start; ask for the first stub at once, so it is forked while we wait.

        The container takes ``lease`` (its uid) over: it is released when the container is removed,
        here if the start fails, and never while the container might still be there.
        """
        created_at = time.monotonic()
        gvisor = config.runtime == "runsc"
        # gVisor cannot connect to a host socket: there the attach stream carries the channel.
        listener = None if gvisor else ChannelListener(channels_root())
        try:
            spec = container_spec(
                profile, config, agent=agent, labels=labels, memory=memory, max_processes=max_processes,
                cgroup_parent=cgroup_parent, channel=listener.path if listener else None, user=lease.user,
            )
            host_config = client.api.create_host_config(**spec.host)
            container_id = str(
                client.api.create_container(profile.image, host_config=host_config, **spec.container)["Id"]
            )
        except BaseException:
            if listener is not None:
                listener.remove()
            lease.release()  # nothing was made, or the engine refused it
            raise
        try:
            name = container_id[:12]
            if listener is None:
                params = {"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1}
                channel = AgentChannel(raw_socket(client.api.attach_socket(container_id, params=params)), name)
                client.api.start(container_id)
            else:
                client.api.start(container_id)
                starting = lambda: _running(client, container_id)  # noqa: E731
                channel = AgentChannel(listener.accept(START_TIMEOUT, starting), name, framed=False)
            channel.send(frame(HostMessage.PREPARE))
            if cgroup_parent:
                relative = f"{cgroup_parent.strip('/')}/{container_id}"
                cgroup = ContainerCgroup.at(relative)
            else:  # a systemd cgroup driver names the cgroup itself: find it from the process
                pid = int(client.api.inspect_container(container_id)["State"]["Pid"])
                cgroup = ContainerCgroup.of_process(pid)
            container = cls(
                client, container_id, profile, channel, cgroup, shared_cgroup=gvisor, created_at=created_at,
                lease=lease,
            )
            container._listener = listener
            container.pid_budget = config.node_sandbox_pids
            container._stub_requested = True
            container._expect_ready()
        except BaseException:
            if _remove(client, container_id):
                lease.release()
            if listener is not None:
                listener.remove()
            raise
        return container

    # The agent's replies ---------------------------------------------------------

    def receive_any(self, timeout: float) -> tuple[int, bytes]:
        """The agent's next message; a timeout or the agent's own failure is a ``SandboxError``."""
        deadline = time.monotonic() + timeout
        while True:
            message = self.channel.receive(max(0.0, deadline - time.monotonic()))
            if message is None:
                if time.monotonic() >= deadline:
                    raise SandboxError(f"the sandbox {self.id[:12]} did not answer within {timeout:.0f} s")
                continue
            kind, payload = message
            if kind == AgentMessage.FATAL:
                raise SandboxError(f"the sandbox agent failed: {payload.decode(errors='replace')}")
            return kind, payload

    def _receive(self, wanted: AgentMessage, timeout: float) -> bytes:
        while True:
            kind, payload = self.receive_any(timeout)
            if kind == wanted:
                return payload
            log.warning("sandbox %s: unexpected message %d while waiting for %s", self.id[:12], kind, wanted.name)

    def _expect_ready(self) -> None:
        payload = self._receive(AgentMessage.READY, START_TIMEOUT)
        version = int.from_bytes(payload[:4], "big")
        if version != PROTOCOL_VERSION:
            raise SandboxError(f"the sandbox agent speaks protocol {version}, not {PROTOCOL_VERSION}")

    def request_stub(self) -> None:
        """Ask for the next stub now; ``take_stub`` collects it later."""
        if not self._stub_requested:
            self.channel.send(frame(HostMessage.PREPARE))
            self._stub_requested = True

    def take_stub(self) -> int:
        """The next stub's host pid (forked but waiting: nothing of the task has run)."""
        self.request_stub()
        payload = self._receive(AgentMessage.STUB, REPLY_TIMEOUT)
        self._stub_requested = False
        ns_pid = int.from_bytes(payload[:4], "big")
        if self.shared_cgroup:
            return ns_pid  # gVisor: the process lives inside the Sentry, the host never moves it
        others = [pid for pid in self.cgroup.processes() if pid != self._agent_pid]
        if self._agent_pid is not None and len(others) == 1:
            return others[0]  # the agent and the stub are all there is between tasks: no need to ask which
        for pid in others:
            if _ns_pid(pid) == ns_pid:
                return pid
            if self._agent_pid is None and _ns_pid(pid) == 1:
                self._agent_pid = pid
        raise SandboxError(f"the stub (pid {ns_pid} in sandbox {self.id[:12]}) is not in the container's cgroup")

    def accounting(self, memory: int, max_processes: int) -> ChildCgroup | SharedCgroup:
        """A fresh cgroup for the next step, with its limits set (created before the stub joins it)."""
        self._steps += 1
        account: ChildCgroup | SharedCgroup
        if self.shared_cgroup:
            account = SharedCgroup(self.cgroup)
            max_processes = host_pids(max_processes, gvisor=True, budget=self.pid_budget)
        else:
            if self._agent_pid is None:
                self._agent_pid = next((pid for pid in self.cgroup.processes() if _ns_pid(pid) == 1), 0)
            account = self.cgroup.child(f"step-{self._steps}", self._agent_pid)
        account.create(memory, max_processes)
        return account

    def begin_reset(self, *, stub: bool = True) -> None:
        """Ask for the reset (and, with ``stub``, for the next stub) now; ``end_reset`` reads the answer
        when next used. Without ``stub`` the agent is idle again after the reset: it may be listed, read or
        reset once more (a judged task's reset between tests is followed by the runner's own)."""
        self.channel.send(frame(HostMessage.RESET))
        self._resetting = True
        if stub:
            self.request_stub()

    def end_reset(self) -> str | None:
        """None when the agent proved the container clean, else its doubt (the container must go)."""
        if not self._resetting:
            return None
        self._resetting = False
        payload = self._receive(AgentMessage.RESET, REPLY_TIMEOUT)
        return None if payload[:1] == b"\x01" else payload[1:].decode(errors="replace") or "the reset failed"

    def alive(self) -> bool:
        """Whether the agent still answers: a container killed from outside has closed its channel."""
        return self.channel.alive()

    def kill(self) -> None:
        try:
            self.channel.send(frame(HostMessage.KILL))
        except ChannelClosed:
            pass

    def remove(self) -> None:
        """Stop and remove the container (and any volume), whatever state it is in."""
        if self.cgroup.lingering:  # or the page cache its runs read would keep their cgroups for good
            self.cgroup.reclaim()
        self.channel.close()
        if _remove(self.client, self.id) and self.lease is not None:
            self.lease.release()  # only once the container is gone: a uid is never shared by two live ones
        if self._listener is not None:
            self._listener.remove()
        if self.shared_cgroup:  # its own parent cgroup (see SandboxRunner): empty now
            for path in self.cgroup.paths.values():
                try:
                    path.parent.rmdir()
                except OSError:
                    pass  # still busy a moment: the reaper removes it later


def _running(client: docker.DockerClient, container_id: str) -> bool:
    try:
        return bool(client.api.inspect_container(container_id)["State"]["Running"])
    except docker.errors.DockerException:
        return False


def _remove(client: docker.DockerClient, container_id: str) -> bool:
    """Remove the container; True once it is gone (False: it may still be there, for the reaper)."""
    try:
        client.api.remove_container(container_id, force=True, v=True)
    except docker.errors.NotFound:
        pass
    except docker.errors.APIError as error:
        # 409: the engine is already removing it (auto_remove); "is not running": it stopped as we asked (its
        # agent exited) and auto_remove is about to. Either way, wait until it is gone.
        if error.status_code == 409 or "is not running" in str(error.explanation or ""):
            try:
                client.api.wait(container_id, timeout=60, condition="removed")
            except docker.errors.NotFound:
                pass
            except (docker.errors.DockerException, OSError) as late:
                log.warning("container %s is still being removed: %s", container_id[:12], late)
                return False
        else:
            log.warning("could not remove container %s: %s; the reaper will", container_id[:12], error)
            return False
    except docker.errors.DockerException as error:
        log.warning("could not remove container %s: %s; the reaper will", container_id[:12], error)
        return False
    return True

