"""The red team's host-side holes, each reproduced against the real engine, in both sandbox modes.

Each test is the reproducer of one item of the holes issue; on the sandbox
layer as it was, each failed.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from faber_ray.models import ResourceLimits, Task, TaskStatus
from faber_ray.sandbox.runner import SandboxRunner

pytestmark = pytest.mark.usefixtures("no_leftover_sandboxes")

S = TaskStatus
MiB = 1024**2


# A1: no root write ever goes through a path a local user could have made ----------------


def test_task_files_never_pass_through_a_host_directory(runner: SandboxRunner, tmp_path: Path) -> None:
    """The old fixed staging root, planted first by another user as a link to a root-only
    directory: a task with files must write nothing there (files reach the sandbox over the
    agent's channel, written by the task's own process inside it)."""
    target = tmp_path / "root-only"
    target.mkdir(mode=0o700)
    planted = Path("/tmp/faber-ray")
    created = not os.path.lexists(planted)
    if created:
        planted.symlink_to(target)
    try:
        result = runner.run(Task(command="cat", args=["a/b/secret.txt"], files={"a/b/secret.txt": "payload\n"}))
        assert (result.status, result.stdout) == (S.SUCCESS, "payload\n")
        assert list(target.iterdir()) == []
    finally:
        if created:
            planted.unlink()


# A3: socket buffers count against the memory limit -------------------------------------

TCP_FLOOD = r"""
import socket, time
server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen(64)
port = server.getsockname()[1]
pairs, queued, refused = [], 0, ""
chunk = b"x" * (1 << 20)
try:
    for _ in range(40):
        client = socket.socket()
        for option in (socket.SO_SNDBUF, socket.SO_RCVBUF):
            client.setsockopt(socket.SOL_SOCKET, option, 64 << 20)
        client.connect(("127.0.0.1", port))
        peer, _ = server.accept()
        peer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 20)
        client.setblocking(False)
        pairs.append((client, peer))
        while True:
            try:
                queued += client.send(chunk)
            except BlockingIOError:
                break
except OSError as error:
    refused = error.strerror
print(queued, refused or "none", flush=True)
time.sleep(1)  # hold the buffers while the host looks
"""


def _host_tcp_bytes() -> int:
    for line in Path("/proc/net/sockstat").read_text().splitlines():
        if line.startswith("TCP:"):
            fields = line.split()
            return int(fields[fields.index("mem") + 1]) * os.sysconf("SC_PAGE_SIZE")
    raise AssertionError("no TCP line in /proc/net/sockstat")


def test_tcp_buffers_are_held_to_the_memory_limit(runner: SandboxRunner) -> None:
    memory = 64 * MiB
    before = _host_tcp_bytes()
    peak = [before]
    done = threading.Event()

    def watch() -> None:
        while not done.wait(0.02):
            peak.append(_host_tcp_bytes())

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        result = runner.run(Task(command="python3", args=["-c", TCP_FLOOD],
                                 limits=ResourceLimits(memory=memory, disk="8m", timeout=120)))
    finally:
        done.set()
        watcher.join()
    grew = max(peak) - before
    # Without TCP accounting this reached 453 MiB; with it, the buffers stop near the limit.
    assert grew < memory + 32 * MiB, f"host TCP memory grew by {grew / MiB:.0f} MiB"
    if result.status is S.SUCCESS:
        queued, _ = result.stdout.split(maxsplit=1)
        assert int(queued) < memory + 32 * MiB  # the sends stopped
    else:
        assert result.status is S.MEMORY_LIMIT_EXCEEDED


def test_tcp_buffers_and_ordinary_memory_share_one_limit(runner: SandboxRunner) -> None:
    """40 MiB of ordinary memory, then as much queued TCP as the kernel takes, under memory=64 MiB:
    on cgroup v1 TCP buffers have a counter of their own, and once they had a budget of their own
    beside ``memory`` (40 + 72 MiB held, SUCCESS, a reported peak of 46 MiB). Both must fit the one
    limit, and the peak must count both."""
    hold = "hog = bytearray(40 << 20)\nfor i in range(0, len(hog), 4096):\n    hog[i] = 1\n"
    result = runner.run(Task(command="python3", args=["-c", hold + TCP_FLOOD],
                             limits=ResourceLimits(memory=64 * MiB, disk="8m", timeout=120)))
    if result.status is S.MEMORY_LIMIT_EXCEEDED:
        return  # held, by the kernel's OOM killer
    assert result.status is S.SUCCESS, result
    queued = int(result.stdout.split()[0])
    assert 40 * MiB + queued <= 64 * MiB, f"{queued / MiB:.0f} MiB of TCP queued beside 40 MiB"
    assert result.resource_usage.peak_memory >= 40 * MiB + queued  # the peak counts the buffers
    assert result.resource_usage.peak_memory <= 64 * MiB + MiB


# A4: an image's VOLUME gets a sized tmpfs, and nothing persists ------------------------


@pytest.fixture(scope="module")
def volume_image(docker_client: docker.DockerClient, sandbox_image: str) -> Iterator[str]:
    """faber-ray/python:3 plus ``VOLUME /data`` (mode 1777), as the postgres image declares one."""
    name = "faber-ray/test-volume:1"
    box = docker_client.api.create_container(sandbox_image, command=["true"])
    try:
        docker_client.api.commit(box["Id"], repository="faber-ray/test-volume", tag="1", changes=["VOLUME /data"])
    finally:
        docker_client.api.remove_container(box["Id"], force=True)
    yield name
    docker_client.api.remove_image(name, force=True)


def test_image_volumes_are_sized_and_removed(
    runner: SandboxRunner, docker_client: docker.DockerClient, volume_image: str
) -> None:
    volumes_before = {volume["Name"] for volume in docker_client.api.volumes().get("Volumes") or []}
    write = (
        "import errno\n"
        "total = 0\n"
        "for n in range(3):\n"
        "    try:\n"
        "        with open(f'/data/{n}', 'wb') as f:\n"
        "            for _ in range(60):\n"
        "                f.write(b'x' * (1 << 20)); f.flush(); total += 1 << 20\n"
        "    except OSError as error:\n"
        "        print(errno.errorcode[error.errno])\n"
        "print(total)\n"
    )
    result = runner.run(Task(command="python3", args=["-c", write], image=volume_image,
                             limits=ResourceLimits(disk=64 * MiB, memory="256m")))
    assert result.status is S.SUCCESS, result.error or result.stderr
    *errors, total = result.stdout.split()
    assert set(errors) <= {"ENOSPC", "EFBIG"} and errors
    assert int(total) <= 64 * MiB
    volumes_after = {volume["Name"] for volume in docker_client.api.volumes().get("Volumes") or []}
    assert volumes_after <= volumes_before  # no anonymous volume stayed behind


# A5, A8: the sandbox layer refuses what validation would, on its own --------------------


def test_a_deep_path_is_refused_and_no_host_path_appears(runner: SandboxRunner) -> None:
    deep = "/".join(["a"] * 1000)
    result = runner.run(Task.model_construct(command="true", files={deep: "x"}))
    assert result.status is S.ERROR
    assert result.error is not None and "deep" in result.error
    assert "/tmp" not in result.error and "/root" not in result.error


def test_network_from_a_constructed_task_is_refused(runner: SandboxRunner) -> None:
    result = runner.run(Task.model_construct(command="true", network=True))
    assert result.status is S.ERROR
    assert result.error is not None and "network" in result.error


# A7: io_uring is not reachable -----------------------------------------------------------


def test_io_uring_is_refused_inside(runner: SandboxRunner) -> None:
    code = (
        "import ctypes\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "params = ctypes.create_string_buffer(120)\n"
        "print(libc.syscall(425, 8, params), ctypes.get_errno())\n"  # io_uring_setup
    )
    result = runner.run(Task(command="python3", args=["-c", code]))
    assert result.status is S.SUCCESS, result.stderr
    assert result.stdout.split() == ["-1", "1"]  # EPERM, from faber-ray's seccomp profile


# C6: processes are read from the pids controller, not sampled ---------------------------


def test_a_short_task_over_its_process_limit_is_flagged(runner: SandboxRunner) -> None:
    result = runner.run(Task(command="sh", args=["-c", "for i in 1 2 3 4 5 6 7 8; do sleep 2 & done; wait"],
                             limits=ResourceLimits(max_processes=5)))
    assert result.status is S.FAILURE
    assert "max_processes" in result.resource_limits_exceeded
    assert result.resource_usage.peak_processes == 5


def test_peak_processes_is_never_zero_for_a_task_that_ran(runner: SandboxRunner) -> None:
    result = runner.run(Task(command="true"))
    assert result.status is S.SUCCESS
    assert result.resource_usage.peak_processes >= 1

