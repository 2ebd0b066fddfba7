"""A private local Ray whose helpers go with the process that started it.

``ray.init()`` without an address starts a Ray of its own: a GCS, a raylet
and their helpers. When the starting process ends normally, ``ray.shutdown``
stops them; when it is killed with SIGKILL (an OOM killer, ``kill -9``, a
supervisor's last resort), the raylet follows it but its helpers (the
dashboard agent, the runtime-env agent) stay behind for good.

So a local Ray gets a private temporary directory, which every one of its
processes names on its command line or holds open (its log files: the agents
rename themselves, ``ray::DashboardAgent``), and a watchdog: a small process that
holds the read end of a pipe whose write end only the starter holds. When the
starter is gone, however it went, the pipe reads end-of-file and the watchdog
kills every process that uses the directory, then removes it. Nothing else
is touched: the directory is new and ours.

Run as ``python -m faber_ray.localray DIRECTORY`` with the pipe on stdin.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

__all__ = ["init_local_ray", "processes_using", "watch"]


def _uses(pid: str, directory: str) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            if directory.encode() in cmdline.read():
                return True
        prefix = directory.rstrip("/") + "/"
        return any(os.readlink(f"/proc/{pid}/fd/{fd}").startswith(prefix) for fd in os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return False


def processes_using(directory: str) -> list[int]:
    """Pids of processes (other than this one) that name ``directory`` on their command line or hold a
    file below it open."""
    return [
        int(entry.name) for entry in os.scandir("/proc")
        if entry.name.isdigit() and int(entry.name) != os.getpid() and _uses(entry.name, directory)
    ]


def init_local_ray(**init_args: object) -> None:
    """``ray.init`` of a private local Ray, with a watchdog that ends it when this process ends."""
    import ray  # here, not above: the watchdog imports this module and needs nothing of Ray

    base = os.environ.get("RAY_TMPDIR") or tempfile.gettempdir()
    # Short: Ray's socket paths below it must fit in 107 bytes.
    directory = tempfile.mkdtemp(prefix="frl", dir=base)
    read_end, write_end = os.pipe()
    subprocess.Popen(
        [sys.executable, "-m", "faber_ray.localray", directory], stdin=read_end, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True, close_fds=True,
    )
    os.close(read_end)
    os.set_inheritable(write_end, False)  # only this process holds it: its end is the signal
    ray.init(address="local", _temp_dir=directory, **init_args)  # type: ignore[arg-type]


def watch(directory: str) -> None:
    """Wait for end-of-file on stdin (the starter is gone), then end the local Ray that names ``directory``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's Ctrl-C is for the starter, who then shuts down
    while os.read(0, 4096):
        pass
    for _ in range(3):  # a helper may spawn another while the first are killed
        for pid in processes_using(directory):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    if Path(directory).is_dir():
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    watch(sys.argv[1])
