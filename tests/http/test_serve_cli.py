"""`faber-ray serve` as a user runs it: a process of its own, its own local Ray, a real SIGINT.

Without api_tokens it must generate a token into a file only its user can
read, and say where; the API must answer with that token; Ctrl-C must stop
it cleanly (exit 0) and leave no container, even with a task running. With
--address it serves the cluster's shared executor, and Ctrl-C leaves an
executor it did not start running.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import stat
import subprocess
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import httpx
import pytest
from cli_support import Sandbox, free_port, marked_containers, poll, ray_head, sandbox_dirs

from faber_ray.localray import processes_using
from faber_ray.sandbox.reaper import remove_stale_channels


@pytest.fixture(scope="module")
def box() -> Iterator[Sandbox]:
    with sandbox_dirs() as sandbox:
        yield sandbox


def test_a_port_in_use_is_refused_in_a_sentence(box: Sandbox) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = box.cli("serve", "--port", str(port), timeout=60)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == (
        f"faber-ray: error: field '--port': port {port} on 127.0.0.1 is in use; pick another with --port"
    )


def test_serve_generates_a_token_serves_and_ctrl_c_leaves_no_container(
    box: Sandbox, docker_client: docker.DockerClient
) -> None:
    port = free_port()
    mark = uuid.uuid4().hex
    server = box.popen("serve", "--port", str(port), XDG_CACHE_HOME=str(box.home / ".cache"))
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(server.stderr.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    try:
        poll(lambda: any("serving http://" in line for line in lines) or server.poll() is not None, "serve to start")
        assert server.poll() is None, "".join(lines)
        said = "".join(lines)
        found = re.search(r"generated a token in (\S+) \(readable only by you\)", said)
        assert found, said
        token_file = Path(found.group(1))
        assert token_file.parent == box.home / ".cache" / "faber-ray" / "serve"
        assert stat.S_IMODE(os.stat(token_file).st_mode) == 0o600
        token = token_file.read_text().strip()
        url = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{url}/healthz", timeout=30).status_code == 200
        headers = {"Authorization": f"Bearer {token}"}
        assert httpx.get(f"{url}/v1/stats", timeout=30).status_code == 401
        task = {"command": "sleep", "args": ["300"], "env": {"FABER_TEST_MARK": mark}}
        submitted = httpx.post(f"{url}/v1/tasks", json=task, headers=headers, timeout=60)
        assert submitted.status_code == 202, submitted.text
        poll(lambda: marked_containers(docker_client, mark), "the task's container to run")

        server.send_signal(signal.SIGINT)
        server.wait(timeout=180)
        reader.join(timeout=10)
        said = "".join(lines)
        assert server.returncode == 0, said
        assert "faber-ray: interrupted; stopping the HTTP API" in said
        assert "faber-ray: executor stopped" in said
        assert "Traceback" not in said
        poll(lambda: not marked_containers(docker_client, mark, running_only=False), "the container to go", 60)
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{url}/healthz", timeout=5)
    finally:
        if server.poll() is None:
            server.kill()
        for container in marked_containers(docker_client, mark, running_only=False):  # a failed test's leftover
            docker_client.api.remove_container(container, force=True)


def _started(server: "subprocess.Popen[str]", lines: list[str]) -> None:
    threading.Thread(target=lambda: lines.extend(iter(server.stderr.readline, "")), daemon=True).start()  # type: ignore[union-attr]
    poll(lambda: any("serving http://" in line for line in lines) or server.poll() is not None, "serve to start")
    assert server.poll() is None, "".join(lines)


def test_with_address_it_serves_the_shared_executor_and_leaves_it_running() -> None:
    token = "cluster-token-0123456789"
    with ray_head() as head:
        try:
            started = head.cli("start", "--address", "auto")
            assert started.returncode == 0, started.stderr
            port = free_port()
            server = head.popen("serve", "--address", "auto", "--port", str(port),
                                FABER_RAY_API_TOKENS=f'{{"{token}": "carol"}}')
            lines: list[str] = []
            try:
                _started(server, lines)
                assert "generated a token" not in "".join(lines)
                answer = httpx.post(
                    f"http://127.0.0.1:{port}/judge0/submissions", params={"wait": "true"}, timeout=120,
                    headers={"X-Auth-Token": token}, json={"source_code": "echo shared", "language_id": 46},
                )
                assert answer.status_code == 201, answer.text
                assert answer.json()["stdout"] == "shared\n"
                server.send_signal(signal.SIGINT)
                server.wait(timeout=180)
                assert server.returncode == 0, "".join(lines)
                assert "executor stopped" not in "".join(lines)  # it was not serve's to stop
            finally:
                if server.poll() is None:
                    server.kill()
            stats = head.cli("stats", "--address", "auto", "--json")
            assert stats.returncode == 0, stats.stderr  # the shared executor still runs...
            assert '"total": 1' in stats.stdout  # ... and counted the submission
        finally:
            head.cli("stop", "--address", "auto")


def test_serve_killed_with_sigkill_leaves_no_ray_process_and_no_channel(
    docker_client: docker.DockerClient,
) -> None:
    """SIGKILL runs no cleanup: its local Ray's watchdog ends every process of that Ray, and the reaper
    removes the channel directories of its dead workers."""
    with sandbox_dirs() as box:
        port = free_port()
        channels = box.home / ".cache" / "faber-ray" / "agent" / "channels"  # its HOME is the sandbox's
        server = box.popen("serve", "--port", str(port), FABER_RAY_API_TOKENS='["kill-token-0123456789"]')
        lines: list[str] = []
        try:
            _started(server, lines)
            answer = httpx.post(
                f"http://127.0.0.1:{port}/v1/tasks", params={"wait": "true"}, json={"command": "echo", "args": ["x"]},
                headers={"Authorization": "Bearer kill-token-0123456789"}, timeout=120,
            )
            assert answer.status_code == 200, answer.text
            assert processes_using(str(box.root)), "its local Ray runs under the sandbox's RAY_TMPDIR"
            server.kill()
            server.wait(timeout=30)
            poll(lambda: not processes_using(str(box.root)), "every process of its Ray to be gone", 60)
            assert list(channels.iterdir()), "its warm container had a channel directory"
            # Its workers die with its Ray; the reaper removes their channels once they are gone.
            poll(lambda: remove_stale_channels(channels) >= 0 and not list(channels.iterdir()), "the reaping", 60)
        finally:
            if server.poll() is None:
                server.kill()
