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
import signal
import sys
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
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
    serve.add_argument("--port", type=int, default=8000, help="port to listen on (default: 8000); where Serve "
                       "already runs in the cluster, the API is served on its port and serve says so")
    serve.add_argument("--rotate-token", action="store_true", help="without api_tokens: make a new token instead "
                       "of keeping the one saved for this port by the last serve")
    serve.add_argument("--replace", action="store_true", help="take over a faber-ray API already deployed in the "
                       "cluster (one whose serve was killed, say) instead of refusing")
    serve.add_argument("--config", metavar="FILE", help="ExecutorConfig YAML (default: FABER_RAY_CONFIG, then "
                       "FABER_RAY_* variables): its api_tokens always apply; the rest configures the executor "
                       "serve starts (with --address, only if no shared executor runs yet)")
    serve.set_defaults(func=cmd_serve)


def _say(text: str) -> None:
    print(f"faber-ray: {text}", file=sys.stderr, flush=True)


@dataclass
class ServeToken:
    """The API's tokens: the config's, or one generated for the port and kept in a file across restarts.

    A generated token is written only once the API serves (a failed start leaves no file), and is read
    back by the next ``serve`` on that port, so saved client configurations keep working;
    ``--rotate-token`` makes a new one.
    """

    table: Any
    generated: str | None = None
    path: Path | None = None

    @classmethod
    def choose(cls, config: ExecutorConfig, port: int, *, rotate: bool) -> ServeToken:
        from faber_ray.http.auth import TokenTable, generate_token, read_token_file, token_file_path

        if config.api_tokens is not None:
            return cls(TokenTable.from_tokens(config.api_tokens))
        path = token_file_path(port)
        kept = None if rotate else read_token_file(path)
        token = kept or generate_token()
        return cls(TokenTable.from_tokens([token]), None if kept else token, path)

    def save(self) -> None:
        """Write a newly generated token's file, and say where the token is."""
        from faber_ray.http.auth import write_token_file

        if self.path is None:
            return
        if self.generated is not None:
            write_token_file(self.generated, self.path)
        kept = "kept from the last start; --rotate-token makes a new one" if self.generated is None else "new"
        _say(f"no api_tokens are configured; the token is in {self.path} (readable only by you, {kept}). Send it "
             "as `Authorization: Bearer <token>` (native API) or `X-Auth-Token: <token>` (Judge0 API)")


def _open_executor(args: argparse.Namespace, config: ExecutorConfig) -> tuple[Any, str, bool]:
    """``(handle, name, owned)``: the shared executor (started if missing), or a private, named one."""
    from faber_ray.actors import TaskExecutor
    from faber_ray.actors.options import SHARED_EXECUTOR_NAME

    if args.address:
        handle, created = start_shared(config, args.address)
        if not created and args.config:
            _say("a shared executor is already running with its own config; only --config's api_tokens apply")
        return handle, SHARED_EXECUTOR_NAME, created
    name = f"http-{uuid.uuid4().hex[:8]}"
    handle = TaskExecutor.options(name=name).remote(config)
    ray.get(handle.cluster.remote())  # its workers are ready, or its failure surfaces here
    return handle, name, True


def _raise_interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _where(args: argparse.Namespace) -> tuple[Any, bool]:
    """Where the API will listen, and whether this command starts Serve (and so stops it at the end).

    A Serve already running keeps its own address (its proxy's options are fixed when it starts): the API
    is served there, and said so. A faber-ray app already on it belongs to another ``serve``: refused,
    unless ``--replace``.
    """
    from faber_ray.http.serving import APP_NAME, Listening, app_is_deployed, port_problem_on_head, running_serve

    running = running_serve()
    if running is None:
        problem = port_problem_on_head(args.host, args.port)
        if problem:
            raise ConfigurationError(problem, field="--port")
        return Listening(args.host, args.port), True
    if app_is_deployed(APP_NAME) and not args.replace:
        raise ConfigurationError(
            f"a faber-ray HTTP API already serves this cluster at {running.url}; use it, or stop the `faber-ray "
            "serve` that runs it (Ctrl-C or SIGTERM), or take its place with --replace", field="--address",
        )
    if (running.host, running.port) != (args.host, args.port):
        _say(f"Serve already runs in this cluster and listens on {running.host}:{running.port}; the API is served "
             f"there (--host and --port apply only when serve starts Serve)")
    return running, False


def cmd_serve(args: argparse.Namespace) -> int:
    from faber_ray.http.serving import deploy, port_problem

    config = ExecutorConfig.load(args.config)
    if config.result_store is None:
        # Results (Judge0 tokens, /v1 ids) outlive a restart of serve: kept in faber-ray's private cache.
        from faber_ray.hostpath import cache_dir

        config = config.model_copy(update={"result_store": str(cache_dir("results") / "serve.db")})
    if not args.address:  # a local Ray of our own: refuse a taken port before starting anything
        problem = port_problem(args.host, args.port)
        if problem:
            raise ConfigurationError(problem, field="--port")
    executor, owned, stop_serve = None, False, False
    try:
        ensure_ray(args.address)
        if threading.current_thread() is threading.main_thread():
            # Only now: ray.init installs a handler of its own that would abort the process on SIGTERM.
            signal.signal(signal.SIGTERM, _raise_interrupt)
        where, stop_serve = _where(args)
        token = ServeToken.choose(config, where.port, rotate=args.rotate_token)
        executor, name, owned = _open_executor(args, config)
        deploy(name, token.table, host=where.host, port=where.port)
        token.save()
        _say(f"serving {where.url}: the native API under /v1 (docs /docs), the Judge0 API under /judge0, health "
             "at /healthz; Ctrl-C or SIGTERM stops")
        threading.Event().wait()
    except KeyboardInterrupt:
        _say("interrupted; stopping the HTTP API")
    finally:
        with interrupts_deferred():
            _stop(executor, owned, stop_serve)
    return 0


def _stop(executor: Any, owned: bool, stop_serve: bool) -> None:
    """Remove the app (and Serve, if this command started it), then the executor if this command owns it."""
    from faber_ray.http.serving import undeploy

    if ray.is_initialized() and (executor is not None or stop_serve):
        try:
            undeploy(stop_serve=stop_serve)
        except Exception as error:  # noqa: BLE001 - the executor must still be stopped
            _say(f"could not remove the Serve app cleanly ({type(error).__name__}: {error})")
    if executor is not None and owned:
        removed = int(ray.get(executor.shutdown.remote()))
        ray.kill(executor, no_restart=True)
        _say(f"executor stopped; {removed} leftover container(s) removed")
