"""Run the faber-ray command as a separate process, the way a user does, and a `ray start` cluster for it.

Every process gets a HOME and a RAY_TMPDIR of its own, so nothing here
touches the caller's ~/.ray or finds another Ray cluster on the machine:
``--address auto`` finds the cluster of *this* RAY_TMPDIR, as it finds a
user's in /tmp/ray. PYTHONPATH points at this checkout, for the CLI and for
the Ray workers a `ray start` here spawns.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import docker.errors
import pytest

ROOT = Path(__file__).resolve().parent.parent
#: Upper bound for the CLI and Ray to get somewhere; polls end as soon as they do.
DEADLINE = 180.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def poll(condition: Callable[[], Any], what: str, deadline: float = DEADLINE, every: float = 0.25) -> Any:
    """Poll ``condition`` until it returns something truthy; fail after ``deadline`` seconds."""
    end = time.monotonic() + deadline
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > end:
            pytest.fail(f"timed out after {deadline:.0f}s waiting for {what}")
        time.sleep(every)


_marked: dict[str, set[str]] = {}


def _container_of(pid: str) -> str:
    try:
        lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    except OSError:
        return ""
    for line in lines:
        for part in line.split(":", 2)[-1].split("/"):
            if len(part) == 64 and all(ch in "0123456789abcdef" for ch in part):
                return part
    return ""


def marked_containers(engine: docker.DockerClient, mark: str, *, running_only: bool = True) -> list[str]:
    """Containers running a task whose environment has ``FABER_TEST_MARK=<mark>`` (found from the task's
    host process, so it works for warm containers too); with ``running_only=False`` also those seen
    running it before that still exist."""
    wanted = f"FABER_TEST_MARK={mark}".encode()
    running = set()
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if wanted in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
                    running.add(_container_of(pid))
            except OSError:
                continue
    running.discard("")
    seen = _marked.setdefault(mark, set())
    seen |= running
    if running_only:
        return sorted(running)
    present = []
    for container in sorted(seen):
        try:
            engine.api.inspect_container(container)
        except docker.errors.NotFound:
            continue
        present.append(container)
    return present


@dataclass
class Sandbox:
    """A HOME and a (short: Ray's socket paths must fit in 107 bytes) RAY_TMPDIR for CLI processes."""

    root: Path
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def home(self) -> Path:
        return self.root / "home"

    def env(self, **extra: str) -> dict[str, str]:
        env = {name: value for name, value in os.environ.items() if not name.startswith(("FABER_RAY_", "RAY_"))}
        env.update(HOME=str(self.home), RAY_TMPDIR=str(self.root), PYTHONPATH=str(ROOT), **self.extra, **extra)
        return env

    @staticmethod
    def command() -> list[str]:
        return [sys.executable, "-m", "faber_ray"]

    def cli(self, *args: str, input: bytes | None = None, timeout: float = DEADLINE, **extra: str) -> subprocess.CompletedProcess[str]:
        """``python -m faber_ray ARGS`` to the end; stdin is ``input`` or /dev/null."""
        return subprocess.run(
            [*self.command(), *args], env=self.env(**extra), capture_output=True,
            input=input.decode() if input is not None else None,
            stdin=None if input is not None else subprocess.DEVNULL, text=True, timeout=timeout,
        )

    def popen(self, *args: str, **extra: str) -> subprocess.Popen[str]:
        """``python -m faber_ray ARGS`` in the background (stdin /dev/null, output captured)."""
        return subprocess.Popen(
            [*self.command(), *args], env=self.env(**extra), stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )


@contextmanager
def sandbox_dirs() -> Iterator[Sandbox]:
    root = Path(tempfile.mkdtemp(prefix="fr-", dir="/tmp"))
    (root / "home").mkdir()
    try:
        yield Sandbox(root)
    finally:
        for pid in _processes_under(root):  # e.g. the local Ray of a CLI process that a failed test left
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(root, ignore_errors=True)


def _processes_under(root: Path) -> list[int]:
    """Pids of processes whose command line names ``root`` (ours alone: the directory is ours)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if str(root).encode() in (entry / "cmdline").read_bytes():
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def end_process_group(process: subprocess.Popen[Any], root: Path | None = None) -> None:
    """Stop a process started with ``start_new_session`` and everything in its group
    (and, with ``root``, any process that names our directory): SIGTERM, then SIGKILL."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            pass
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            continue
    for pid in _processes_under(root) if root else []:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@contextmanager
def ray_head() -> Iterator[Sandbox]:
    """``ray start --head --block`` with token authentication, as a user starts a cluster; the
    token sits in the sandbox's ~/.ray/auth_token, where Ray looks by default.

    It is stopped by signalling its own process group, never with `ray stop`,
    which stops every Ray on the machine.
    """
    with sandbox_dirs() as box:
        (box.home / ".ray").mkdir()
        (box.home / ".ray" / "auth_token").write_text(secrets.token_hex(32))
        log = (box.root / "ray-start.log").open("w")
        ports = {
            "port": free_port(), "ray-client-server-port": free_port(), "dashboard-agent-listen-port": free_port(),
            "dashboard-agent-grpc-port": free_port(), "metrics-export-port": free_port(),
            "runtime-env-agent-port": free_port(),
        }
        head = subprocess.Popen(
            [shutil.which("ray") or "ray", "start", "--head", "--block", "--num-cpus=1", "--disable-usage-stats",
             "--include-dashboard=false", *(f"--{name}={port}" for name, port in ports.items())],
            env=box.env(), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        try:
            poll(lambda: (box.root / "ray" / "ray_current_cluster").exists() or head.poll() is not None, "ray start")
            assert head.poll() is None, (box.root / "ray-start.log").read_text()
            yield box
        finally:
            end_process_group(head, box.root)
            log.close()
