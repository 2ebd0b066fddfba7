"""Concurrent sandboxes on a node never share a host uid, so no per-uid kernel limit is shared.

Against the real engine, in both modes. Task A takes every inotify instance
its uid may have and fills its uid's ``RLIMIT_MSGQUEUE`` with POSIX message
queues; task B, running meanwhile in another container, must still get both.
With one uid for every sandbox (as before), B got ``EMFILE`` for both. The
runners here take uids from 20001 up, away from the default range other test
runs on this engine use, and uids with no ``/etc/passwd`` entry in any image.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import docker
import pytest

from faber_ray import languages
from faber_ray.languages import LANGUAGES
from faber_ray.models import ResourceLimits, Task, TaskResult, TaskStatus
from faber_ray.images.image import ensure_images
from faber_ray.sandbox.runner import SandboxRunner

pytestmark = pytest.mark.usefixtures("no_leftover_sandboxes")

S = TaskStatus
USER = "20001:20001"

QUEUES = r"""
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
class Attr(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_long), ("maxmsg", ctypes.c_long), ("msgsize", ctypes.c_long),
                ("curmsgs", ctypes.c_long), ("pad", ctypes.c_long * 4)]
def inotify():
    return libc.inotify_init1(0), ctypes.get_errno()
def queue(name):
    attr = Attr(0, 10, 8192, 0)
    return libc.mq_open(name.encode(), os.O_CREAT | os.O_RDWR, 0o600, ctypes.byref(attr)), ctypes.get_errno()
"""

HOG = QUEUES + r"""
import sys, time
instances = 0
while inotify()[0] >= 0:
    instances += 1
queues = 0
while queue(f"/hog{queues}")[0] >= 0:
    queues += 1
print(os.getuid(), instances, inotify()[1], queues, queue("/one-more")[1], flush=True)
time.sleep(120)
"""

PROBE = QUEUES + r"""
fd, fd_errno = inotify()
mq, mq_errno = queue("/probe")
print(os.getuid(), "inotify", "ok" if fd >= 0 else fd_errno, "mqueue", "ok" if mq >= 0 else mq_errno)
"""


@pytest.fixture(scope="module")
def own_range(make_runner: Callable[..., SandboxRunner]) -> SandboxRunner:
    return make_runner(sandbox_user=USER, max_concurrent_tasks=2)


def test_a_task_that_exhausts_its_uids_limits_leaves_another_sandbox_its_own(own_range: SandboxRunner) -> None:
    started = threading.Event()
    hog_result: list[TaskResult] = []
    hog = Task(command="python3", args=["-c", HOG], limits=ResourceLimits(timeout=120))
    thread = threading.Thread(
        target=lambda: hog_result.append(own_range.run(hog, "uid-hog", listener=lambda *_: started.set()))
    )
    thread.start()
    try:
        assert started.wait(120), "the hog never started"
        probe = own_range.run(Task(command="python3", args=["-c", PROBE]))
    finally:
        own_range.cancel("uid-hog")
        thread.join()
    held = hog_result[0].stdout.split()
    uid, instances, inotify_errno, queues, queue_errno = (int(value) for value in held)
    max_instances = int(Path("/proc/sys/fs/inotify/max_user_instances").read_text())
    # A really took all its uid had: every inotify instance, and message queues until the uid's limit.
    assert (instances, inotify_errno, queue_errno) == (max_instances, 24, 24), hog_result[0]
    assert queues > 0
    assert probe.status is S.SUCCESS, probe.stderr
    probe_uid, *rest = probe.stdout.split()
    assert rest == ["inotify", "ok", "mqueue", "ok"], probe.stdout
    assert int(probe_uid) != uid and int(probe_uid) >= 20001 and uid >= 20001


def test_a_warm_container_keeps_its_uid_for_every_task(own_range: SandboxRunner) -> None:
    first = own_range.run(Task(command="sh", args=["-c", "id -u; cut -d' ' -f22 /proc/1/stat"]))
    second = own_range.run(Task(command="sh", args=["-c", "id -u; cut -d' ' -f22 /proc/1/stat"]))
    assert first.status is S.SUCCESS and second.status is S.SUCCESS
    if own_range.mode == "warm":
        assert first.stdout == second.stdout  # the same container, the same uid
    assert int(first.stdout.split()[0]) >= 20001


@pytest.mark.parametrize("name", sorted(LANGUAGES))
def test_every_language_runs_as_a_uid_without_a_passwd_entry(
    own_range: SandboxRunner, docker_client: docker.DockerClient, name: str
) -> None:
    """Only uid 10001 has an entry ("sandbox") in the images; every other uid of the range has none."""
    ensure_images(docker_client, [LANGUAGES[name].image])
    result = own_range.run(languages.task(name, LANGUAGES[name].example))
    assert (result.status, result.stdout) == (S.SUCCESS, "hello, world\n"), result
    check = own_range.run(Task(command="sh", args=["-c", "id -u; grep -c \"^[^:]*:[^:]*:$(id -u):\" /etc/passwd"],
                               image=LANGUAGES[name].image))
    uid, entries = check.stdout.split()
    assert int(uid) >= 20001 and entries == "0"


def test_programs_that_ask_who_they_are_get_an_answer_without_a_passwd_entry(
    own_range: SandboxRunner, docker_client: docker.DockerClient
) -> None:
    """USER, LOGNAME and HOME answer for the missing entry: Python's getpass, Go's os/user."""
    who = "import getpass, pathlib; print(getpass.getuser(), pathlib.Path.home())"
    python = own_range.run(Task(command="python3", args=["-c", who]))
    assert (python.status, python.stdout) == (S.SUCCESS, "sandbox /work\n"), python
    ensure_images(docker_client, [LANGUAGES["go"].image])
    source = (
        'package main\n\nimport (\n\t"fmt"\n\t"os/user"\n)\n\n'
        "func main() {\n\tu, err := user.Current()\n\tfmt.Println(u.Username, u.HomeDir, err)\n}\n"
    )
    go = own_range.run(languages.task("go", source))
    assert (go.status, go.stdout) == (S.SUCCESS, "sandbox /work <nil>\n"), go
