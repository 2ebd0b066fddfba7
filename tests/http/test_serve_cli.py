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
import sys
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
        f"faber-ray: error: port {port} on 127.0.0.1 is in use; pick another with --port"
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
        found = re.search(r"the token is in (\S+) \(readable only by you, new\)", said)
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
                assert "the token is in" not in "".join(lines)
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


def _stopped_by(server: "subprocess.Popen[str]", sig: int, lines: list[str]) -> str:
    server.send_signal(sig)
    server.wait(timeout=180)
    said = "".join(lines)
    assert server.returncode == 0, said
    assert "faber-ray: interrupted; stopping the HTTP API" in said
    assert "Traceback" not in said and "SIGTERM received" not in said
    return said


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def test_sigterm_stops_serve_as_ctrl_c_does_and_a_generated_token_is_kept_across_restarts(box: Sandbox) -> None:
    """What systemd, `docker stop` and Kubernetes send: exit 0, nothing of its Ray left, the port free. The
    next serve on the port keeps the token (saved clients keep working) and finds the results the last one
    made, /v1 ids and Judge0 tokens alike; --rotate-token makes a new token."""
    port = free_port()
    cache = str(box.home / ".cache")
    tokens = []
    for extra in ([], [], ["--rotate-token"]):
        server = box.popen("serve", "--port", str(port), *extra, XDG_CACHE_HOME=cache)
        lines: list[str] = []
        try:
            _started(server, lines)
            found = re.search(r"the token is in (\S+) \(readable only by you, (new|kept)", "".join(lines))
            assert found, "".join(lines)
            tokens.append((Path(found.group(1)).read_text().strip(), found.group(2)))
            bearer = {"Authorization": f"Bearer {tokens[-1][0]}"}
            answer = httpx.get(f"http://127.0.0.1:{port}/v1/stats", headers=bearer, timeout=30)
            assert answer.status_code == 200, answer.text
            if not extra and len(tokens) == 1:  # results made before the restart ...
                ran = httpx.post(f"http://127.0.0.1:{port}/v1/tasks", params={"wait": "true"}, headers=bearer,
                                 json={"command": "echo", "args": ["before"]}, timeout=60)
                assert ran.status_code == 200, ran.text
                kept_id = ran.json()["results"][0]["execution_id"]
                judged = httpx.post(f"http://127.0.0.1:{port}/judge0/submissions", params={"wait": "true"},
                                    headers={"X-Auth-Token": tokens[-1][0]}, timeout=60,
                                    json={"source_code": "print('judged')", "language_id": 71})
                assert judged.status_code == 201, judged.text
                kept_token = judged.json()["token"]
            elif not extra:  # ... are found after it: the store in faber-ray's cache
                found_task = httpx.get(f"http://127.0.0.1:{port}/v1/tasks/{kept_id}", headers=bearer, timeout=30)
                assert found_task.status_code == 200 and found_task.json()["stdout"] == "before\n", found_task.text
                found_sub = httpx.get(f"http://127.0.0.1:{port}/judge0/submissions/{kept_token}",
                                      params={"fields": "stdout,status,language_id"},
                                      headers={"X-Auth-Token": tokens[-1][0]}, timeout=30)
                assert found_sub.status_code == 200, found_sub.text
                assert found_sub.json() == {"stdout": "judged\n", "status": {"id": 3, "description": "Accepted"},
                                            "language_id": 71}
            _stopped_by(server, signal.SIGTERM, lines)
        finally:
            if server.poll() is None:
                server.kill()
        poll(lambda: _port_free(port) and not processes_using(str(box.root)), "the port and its Ray to be released", 60)
    (first, made), (second, kept), (third, rotated) = tokens
    assert (made, kept, rotated) == ("new", "kept", "new")
    assert first == second != third


def _serve_is_running(head: Sandbox) -> bool:
    script = (
        "import ray\nfrom faber_ray.http.serving import serve_is_running\n"
        "ray.init(address='auto', logging_level='ERROR')\nprint(serve_is_running())\n"
    )
    done = subprocess.run([sys.executable, "-c", script], env=head.env(RAY_AUTH_MODE="token"), capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1] == "True"


def test_with_address_a_taken_port_and_a_second_serve_are_refused_and_sigterm_stops_serve() -> None:
    token = "cluster-token-0123456789"
    with ray_head() as head:
        try:
            cache = str(head.home / ".cache")
            with socket.socket() as taken:  # the README's old example: the metrics port on the serve port
                taken.bind(("127.0.0.1", 0))
                taken.listen()
                busy = taken.getsockname()[1]
                done = head.cli("serve", "--address", "auto", "--port", str(busy), XDG_CACHE_HOME=cache)
            assert done.returncode == 2, done.stderr
            assert done.stderr.strip() == (
                f"faber-ray: error: port {busy} on 127.0.0.1 is in use; pick another with --port"
            )
            assert not (head.home / ".cache" / "faber-ray" / "serve").exists() or not list(
                (head.home / ".cache" / "faber-ray" / "serve").iterdir()
            ), "a failed start left a token file"
            port = free_port()
            first = head.popen("serve", "--address", "auto", "--port", str(port), FABER_RAY_API_TOKENS=f'["{token}"]')
            lines: list[str] = []
            try:
                _started(first, lines)
                second = head.cli("serve", "--address", "auto", "--port", str(free_port()),
                                  FABER_RAY_API_TOKENS='["another-token-0123456789"]')
                assert second.returncode == 2, second.stderr
                assert second.stderr.strip() == (
                    f"faber-ray: error: --address: a faber-ray HTTP API already serves this cluster at "
                    f"http://127.0.0.1:{port}; use it, or stop the `faber-ray serve` that runs it (Ctrl-C or SIGTERM), "
                    "or take its place with --replace"
                )
                answer = httpx.get(f"http://127.0.0.1:{port}/v1/stats", headers={"Authorization": f"Bearer {token}"},
                                   timeout=30)
                assert answer.status_code == 200, answer.text  # the first one still serves, with its own token
                _stopped_by(first, signal.SIGTERM, lines)
            finally:
                if first.poll() is None:
                    first.kill()
            poll(lambda: _port_free(port), "the port to be released", 60)
            assert not _serve_is_running(head), "serve started Serve, so its SIGTERM must stop it"
        finally:
            head.cli("stop", "--address", "auto")
