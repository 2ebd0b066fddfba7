"""The subcommands (``run`` and ``batch`` have modules of their own). Each takes the parsed
arguments and returns the process exit code."""

from __future__ import annotations

import argparse
import json
from typing import Any

import ray

from faber_ray.cli.batch import cmd_batch
from faber_ray.cli.render import cluster_table, stats_table
from faber_ray.cli.run import cmd_run
from faber_ray.client import connect, start_shared, stop_shared
from faber_ray.config import ExecutorConfig
from faber_ray.errors import ExecutorError, unwrap_error

__all__ = [
    "EXIT_REFUSED", "cmd_batch", "cmd_cluster", "cmd_run", "cmd_start", "cmd_stats", "cmd_stop", "describe_error",
]

#: Exit code of a refusal: bad arguments, an invalid task, a config that does not load.
EXIT_REFUSED = 2


def cmd_start(args: argparse.Namespace) -> int:
    config = ExecutorConfig.load(args.config)
    _, created = start_shared(config, args.address)
    if created:
        print("faber-ray: shared executor started; connect with faber_ray.connect() or --address")
        dashboard = _dashboard_url()
        if dashboard:
            print(f"faber-ray: the Ray dashboard is at http://{dashboard} (its actors: executor, scheduler, "
                  "monitor, collector, worker-...; it asks for the cluster's token: `ray get-auth-token`)")
    elif args.config:
        print("faber-ray: a shared executor is already running with the config it started with; --config was "
              "not applied (`faber-ray stop` first to change it)")
    else:
        print("faber-ray: a shared executor is already running; nothing changed")
    return 0


def _dashboard_url() -> str | None:
    """host:port of the cluster's dashboard, if it runs one (``ray start --include-dashboard=false``: none)."""
    try:
        from ray._private.worker import get_dashboard_url

        url = get_dashboard_url()
    except Exception:  # noqa: BLE001 - a private helper: without it there is just no URL to show
        return None
    return str(url) if url else None


def cmd_stop(args: argparse.Namespace) -> int:
    removed = stop_shared(args.address)
    if removed is None:
        print("faber-ray: no shared executor was running")
    else:
        print(f"faber-ray: shared executor stopped; {removed} leftover container(s) removed")
    return 0


def _print_view(data: Any, text: str, as_json: bool) -> None:
    if as_json:
        print(json.dumps(data.model_dump(mode="json") if hasattr(data, "model_dump") else data, indent=2))
    else:
        print(text)


def cmd_stats(args: argparse.Namespace) -> int:
    stats = ray.get(connect(args.address).stats.remote())
    _print_view(stats, stats_table(stats), args.json)
    return 0


def cmd_cluster(args: argparse.Namespace) -> int:
    view = ray.get(connect(args.address).cluster.remote())
    _print_view(view, cluster_table(view), args.json)
    return 0


def describe_error(error: BaseException) -> str:
    """One readable sentence for any error that reaches the command line."""
    error = unwrap_error(error)
    if isinstance(error, ExecutorError) and error.field and error.field.startswith("-"):
        # A command-line option, not a task's field: the sentence names it, or starts with it.
        return error.reason if error.field in error.reason else f"{error.field}: {error.reason}"
    if isinstance(error, ExecutorError):
        return str(error)
    if isinstance(error, ray.exceptions.RayError):
        return f"the Ray cluster failed: {str(error).strip().splitlines()[0]}"
    if isinstance(error, ConnectionError):
        return f"could not reach the Ray cluster ({error}); is it running? (ray start --head)"
    if isinstance(error, OSError) and error.strerror:
        return f"{error.filename}: {error.strerror}" if error.filename else error.strerror
    return f"{type(error).__name__}: {error}"
