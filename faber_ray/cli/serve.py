"""``faber-ray serve``: the HTTP API (native and Judge0) on Ray Serve, in the foreground.

Without ``--address`` it starts a local Ray and an executor of its own, as
``run`` does; with ``--address`` it uses the cluster's shared executor and
starts one if there is none. Ctrl-C (or SIGTERM) removes the Serve app, stops
Serve if this command started it, and shuts the executor down only if this
command started it, which removes its containers.

The API never runs open: with no ``api_tokens`` in the config, a token is
generated and written to a file only the current user can read.
"""

from __future__ import annotations

import argparse
import errno
import logging
import signal
import socket
import sys
import threading
import uuid
from types import FrameType
from typing import Any

import ray

from faber_ray.cli.tracking import interrupts_deferred
from faber_ray.client import ensure_ray, start_shared
from faber_ray.config import ExecutorConfig
from faber_ray.errors import ConfigurationError

__all__ = ["cmd_serve", "register"]


def register(sub: Any) -> None:
    """Add ``serve`` to the subcommands (cheap: Serve and FastAPI load only when it runs)."""
    serve = sub.add_parser(
        "serve", help="serve the HTTP API (native /v1 and Judge0 /judge0) on Ray Serve",
        description="Deploy a Ray Serve application in front of an executor and run until interrupted: the native "
        "API under /v1 (docs at /docs), a Judge0 CE 1.13.1-compatible API under /judge0, GET /healthz. Requests "
        "need a token of the config's api_tokens (Authorization: Bearer, or X-Auth-Token for Judge0); with none "
        "configured, one is generated into a file only you can read. Ctrl-C stops the app, and the executor "
        "if serve started it.",
        epilog="example: faber-ray serve --port 8000; then curl -H \"Authorization: Bearer $(cat TOKEN_FILE)\" "
        "http://127.0.0.1:8000/v1/languages",
    )
    serve.add_argument("--address", help="Ray address of a cluster (`auto`, or host:port): use its shared executor, "
                       "starting one if none runs; default: a private executor on a local Ray")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on (default: 8000)")
    serve.add_argument("--config", metavar="FILE", help="ExecutorConfig YAML (default: FABER_RAY_CONFIG, then "
                       "FABER_RAY_* variables): its api_tokens always apply; the rest configures the executor "
                       "serve starts (with --address, only if no shared executor runs yet)")
    serve.set_defaults(func=cmd_serve)


def _say(text: str) -> None:
    print(f"faber-ray: {text}", file=sys.stderr, flush=True)


def _check_port(host: str, port: int) -> None:
    """Refuse early, in a sentence, a port that is taken (Serve's proxy would only log it and retry)."""
    if not 0 < port < 65536:
        raise ConfigurationError(f"--port must be between 1 and 65535, got {port}", field="--port")
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            why = "is in use" if error.errno == errno.EADDRINUSE else f"cannot be used ({error.strerror})"
            raise ConfigurationError(f"port {port} on {host} {why}; pick another with --port", field="--port") from None


def _token_table(config: ExecutorConfig, port: int) -> Any:
    from faber_ray.http.auth import TokenTable, generate_token, token_file_path, write_token_file

    if config.api_tokens is not None:
        return TokenTable.from_tokens(config.api_tokens)
    token = generate_token()
    path = write_token_file(token, token_file_path(port))
    _say(f"no api_tokens are configured; generated a token in {path} (readable only by you). Send it as "
         "`Authorization: Bearer <token>` (native API) or `X-Auth-Token: <token>` (Judge0 API)")
    return TokenTable.from_tokens([token])


def _open_executor(args: argparse.Namespace, config: ExecutorConfig) -> tuple[Any, str, bool]:
    """``(handle, name, owned)``: the shared executor (started if missing), or a private, named one."""
    from faber_ray.actors import TaskExecutor
    from faber_ray.actors.options import SHARED_EXECUTOR_NAME

    if args.address:
        handle, created = start_shared(config, args.address)
        if not created and args.config:
            _say("a shared executor is already running with its own config; only --config's api_tokens apply")
        return handle, SHARED_EXECUTOR_NAME, created
    ensure_ray(None)
    name = f"http-{uuid.uuid4().hex[:8]}"
    handle = TaskExecutor.options(name=name).remote(config)
    ray.get(handle.cluster.remote())  # its workers are ready, or its failure surfaces here
    return handle, name, True


def _raise_interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def cmd_serve(args: argparse.Namespace) -> int:
    config = ExecutorConfig.load(args.config)
    if not args.address:
        _check_port(args.host, args.port)
    tokens = _token_table(config, args.port)
    logging.getLogger("ray.serve").setLevel(logging.WARNING)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise_interrupt)
    from faber_ray.http.app import deploy, serve_is_running

    executor, name, owned = None, "", False
    stop_serve = False
    try:
        ensure_ray(args.address)
        executor, name, owned = _open_executor(args, config)
        stop_serve = not serve_is_running()
        deploy(name, tokens, host=args.host, port=args.port)
        _say(f"serving http://{args.host}:{args.port}: the native API under /v1 (docs /docs), the Judge0 API "
             f"under /judge0, health at /healthz; Ctrl-C stops")
        threading.Event().wait()
    except KeyboardInterrupt:
        _say("interrupted; stopping the HTTP API")
    finally:
        with interrupts_deferred():
            _stop(executor, owned, stop_serve)
    return 0


def _stop(executor: Any, owned: bool, stop_serve: bool) -> None:
    """Remove the app (and Serve, if this command started it), then the executor if this command owns it."""
    from faber_ray.http.app import undeploy

    if ray.is_initialized():
        try:
            undeploy(stop_serve=stop_serve)
        except Exception as error:  # noqa: BLE001 - the executor must still be stopped
            _say(f"could not remove the Serve app cleanly ({type(error).__name__}: {error})")
    if executor is not None and owned:
        removed = int(ray.get(executor.shutdown.remote()))
        ray.kill(executor, no_restart=True)
        _say(f"executor stopped; {removed} leftover container(s) removed")
