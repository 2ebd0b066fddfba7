"""Reach the shared executor of a cluster: ``connect``, ``start_shared``, ``stop_shared``.

A shared executor is a named, detached ``TaskExecutor`` (``executor`` in the
``faber-ray`` namespace): many users and drivers share its one queue and its
one set of workers. It is pinned to the node that started it; start it from
the head node (``faber-ray start --address auto`` there).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import ray
from ray.actor import ActorHandle
from ray.exceptions import AuthenticationError

from faber_ray.actors import NAMESPACE, TaskExecutor
from faber_ray.actors.options import SHARED_EXECUTOR_NAME
from faber_ray.config import ExecutorConfig
from faber_ray.errors import ExecutionError, unwrap_error
from faber_ray.localray import init_local_ray

__all__ = ["SHARED_EXECUTOR_NAME", "connect", "ensure_ray", "start_shared", "stop_shared"]


def _token_available() -> bool:
    return bool(
        os.environ.get("RAY_AUTH_TOKEN")
        or os.environ.get("RAY_AUTH_TOKEN_PATH")
        or (Path.home() / ".ray" / "auth_token").exists()
    )


def _enable_token_mode() -> None:
    """Ask Ray for token authentication in this process, the way Ray itself does it.

    Ray copies ``RAY_AUTH_MODE`` into its (C++) config when ``ray`` is imported,
    so setting the variable afterwards changes nothing by itself: the client
    then sends no token and the cluster answers InvalidAuthToken. Re-reading the
    config, as Ray's own ``ray.init(address="auto")`` does, makes it take effect.
    """
    os.environ["RAY_AUTH_MODE"] = "token"
    from ray import _raylet

    config = getattr(_raylet, "Config", None)  # compiled, and private: absent in another Ray
    if config is not None:
        config.initialize("")


def _is_authentication_failure(error: BaseException) -> bool:
    """Ray reports a refused token as a ConnectionError caused by a RuntimeError whose text
    holds the AuthenticationError (InvalidAuthToken) of its last attempt."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, AuthenticationError) or any(
            mark in str(seen) for mark in ("InvalidAuthToken", "AuthenticationError", "Unauthenticated")
        ):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _resolve(address: str) -> str:
    """``auto`` as ``ray.init`` resolves it first (``RAY_ADDRESS``, then the cluster this machine's Ray
    last started), without its scan of every Ray process, which warns when several run; ``auto``
    itself when neither is there (``ray.init`` then finds any running Ray, or says none runs)."""
    if address != "auto":
        return address
    from ray._private.services import find_bootstrap_address

    try:
        return os.environ.get("RAY_ADDRESS") or find_bootstrap_address(None) or address
    except Exception:  # noqa: BLE001 - an unreadable address file: leave it to ray.init
        return address


def _check_token(address: str) -> None:
    """Ask the cluster's GCS once whether it takes our token, before ``ray.init`` would retry a refused
    one for some 20 s, printing a warning a second. Anything but a refusal is left to ``ray.init``."""
    from ray._raylet import GcsClient  # type: ignore[attr-defined]

    try:
        gcs = address
        if gcs != "auto":
            GcsClient(address=gcs).internal_kv_get(b"faber-ray-token-check", None, timeout=10)
    except AuthenticationError:
        raise
    except Exception:  # noqa: BLE001 - not reachable, or not Ray 2.60's client: ray.init tells
        pass


def ensure_ray(address: str | None = None) -> None:
    """Join ``address`` (``auto``, ``host:port``), or start a local Ray when None; once per process.

    Token authentication (Ray 2.60's default): with an address, a token at hand
    (``RAY_AUTH_TOKEN``, ``RAY_AUTH_TOKEN_PATH`` or ``~/.ray/auth_token``) and
    ``RAY_AUTH_MODE`` unset, token mode is turned on. Ray does that by itself
    only for ``auto`` without ``RAY_ADDRESS``; faber-ray does it for every
    address. A refused token is reported as an authentication failure, not as
    an unreachable cluster.
    """
    if ray.is_initialized():
        return
    # Ray says on every start that token authentication is on: it is faber-ray's default, not news.
    logging.getLogger("ray._private.authentication.authentication_token_setup").setLevel(logging.ERROR)
    if address and "RAY_AUTH_MODE" not in os.environ and _token_available():
        _enable_token_mode()
    try:
        if address:
            _check_token(_resolve(address))
            ray.init(address=_resolve(address), namespace=NAMESPACE, log_to_driver=False, configure_logging=False)
        else:  # a Ray of our own, never whatever cluster happens to run here, and gone when we are
            init_local_ray(namespace=NAMESPACE, log_to_driver=False, configure_logging=False)
    except (ConnectionError, AuthenticationError) as error:
        where = f"the Ray cluster at {address!r}" if address else "the local Ray"
        if _is_authentication_failure(error):
            raise ExecutionError(
                f"authentication with {where} failed: it requires its token, and this client's was missing or "
                "wrong. Use the cluster's token (`ray get-auth-token` on its head node) in RAY_AUTH_TOKEN, in a "
                "file named by RAY_AUTH_TOKEN_PATH, or in ~/.ray/auth_token"
            ) from None
        raise ExecutionError(
            f"could not reach {where} ({error}); is it running? (ray start --head)"
        ) from None


def connect(address: str | None = None) -> ActorHandle:
    """The handle of the cluster's shared executor; ``address`` defaults to ``auto``."""
    ensure_ray(address or "auto")
    try:
        return ray.get_actor(SHARED_EXECUTOR_NAME, namespace=NAMESPACE)
    except ValueError:
        raise ExecutionError(
            "no shared executor runs in this cluster; start one with `faber-ray start --address auto`"
        ) from None


def start_shared(config: ExecutorConfig | None = None, address: str | None = None) -> tuple[ActorHandle, bool]:
    """Create the shared executor unless one is there; returns ``(handle, created)``.

    Running it again is harmless: an existing executor is returned untouched.
    """
    ensure_ray(address or "auto")
    try:
        return ray.get_actor(SHARED_EXECUTOR_NAME, namespace=NAMESPACE), False
    except ValueError:
        pass
    try:
        handle = TaskExecutor.options(name=SHARED_EXECUTOR_NAME, detached=True).remote(config)
    except ValueError:  # another `faber-ray start` won the race
        return ray.get_actor(SHARED_EXECUTOR_NAME, namespace=NAMESPACE), False
    try:
        ray.get(handle.cluster.remote())  # waits for the workers, and surfaces a failed start
    except Exception as error:
        ray.kill(handle, no_restart=True)
        raise unwrap_error(error) from None
    return handle, True


def stop_shared(address: str | None = None) -> int | None:
    """Shut the shared executor down; returns containers removed, or None if none was running."""
    ensure_ray(address or "auto")
    try:
        handle = ray.get_actor(SHARED_EXECUTOR_NAME, namespace=NAMESPACE)
    except ValueError:
        return None
    removed = int(ray.get(handle.shutdown.remote()))
    ray.kill(handle, no_restart=True)
    return removed
