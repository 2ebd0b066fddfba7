"""The one place Docker SDK errors become :class:`~faber_ray.errors.SandboxError`.

Like docker-py does for HTTP errors, lower-level failures are translated at
this boundary into a sentence a user can act on.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import docker
import docker.errors
import requests.exceptions

from faber_ray.errors import SandboxError

__all__ = ["connect", "docker_errors", "is_not_found", "missing_image"]

_ENGINE_HINT = "start it with `bash scripts/setup` (or `sudo dockerd &`), or set DOCKER_HOST"


def connect(docker_host: str | None = None, timeout: float = 60) -> docker.DockerClient:
    """A client for ``docker_host`` (default: ``DOCKER_HOST`` or the local socket), checked with a ping."""
    try:
        client = (
            docker.DockerClient(base_url=docker_host, timeout=timeout)
            if docker_host
            else docker.from_env(timeout=timeout)
        )
        client.ping()
    except docker.errors.DockerException as error:
        raise SandboxError(f"no Docker engine answers ({_short(error)}); {_ENGINE_HINT}") from None
    except requests.exceptions.RequestException as error:
        raise SandboxError(f"no Docker engine answers ({_short(error)}); {_ENGINE_HINT}") from None
    return client


def is_not_found(error: BaseException) -> bool:
    """True for the 404s Docker answers when a container is already gone."""
    return isinstance(error, docker.errors.NotFound)


@contextmanager
def docker_errors(image: str, runtime: str | None = None) -> Iterator[None]:
    """Translate any Docker failure inside the block into ``SandboxError``."""
    try:
        yield
    except docker.errors.ImageNotFound:
        raise SandboxError(missing_image(image), field="image") from None
    except docker.errors.APIError as error:
        text = _short(error)
        if runtime and "runtime" in text.lower():
            raise SandboxError(
                f"the Docker engine does not know the runtime '{runtime}' ({text}); "
                "register it in /etc/docker/daemon.json or unset `runtime`",
                field="runtime",
            ) from None
        if "no such image" in text.lower():
            raise SandboxError(missing_image(image), field="image") from None
        raise SandboxError(f"the Docker engine refused the request: {text}") from None
    except (docker.errors.DockerException, requests.exceptions.RequestException, ConnectionError) as error:
        raise SandboxError(f"lost contact with the Docker engine ({_short(error)}); {_ENGINE_HINT}") from None


def missing_image(image: str) -> str:
    """A sentence with a command that really produces ``image``: faber-ray builds its own, not others'."""
    from faber_ray.images.recipes import RECIPES

    if image in RECIPES:
        return f"image {image} not found; build it with `faber-ray images ensure {image}`"
    return (
        f"image {image} not found on this node; faber-ray does not build it: "
        f"`docker pull {image}` (or `docker load`) on every sandbox node"
    )


def _short(error: BaseException) -> str:
    explanation = getattr(error, "explanation", None)
    text = str(explanation or error).strip()
    return text if len(text) <= 300 else text[:297] + "..."
