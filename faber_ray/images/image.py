"""Put faber-ray's sandbox images into the Docker engine, without an image registry.

Machines running faber-ray often reach Debian's package mirror but no image
registry, so ``docker pull`` / ``docker build FROM ...`` cannot work there.
Each image is instead built from Debian packages by
:mod:`faber_ray.images.rootfs` from a recipe in :mod:`faber_ray.images.recipes`,
and ``docker import``-ed. :func:`ensure_images` builds only what is missing,
where an image whose ``faber-ray.recipe`` label is not its recipe's digest
counts as missing. Everything built is cached under
``$XDG_CACHE_HOME/faber-ray`` (default ``~/.cache/faber-ray``):

* ``debs/`` and ``lists/``: every .deb and apt's package lists, shared by all builds;
* ``base-<arch>-<digest>.tar``: the shared base, debootstrapped once;
* ``image-<name>-<arch>-<digest>.tar`` (+ ``.packages``): each image's root
  filesystem, so re-creating an image (after ``docker rmi`` or an engine
  reset) is a ``docker import`` of seconds, not a build.

Where a registry is reachable, ``faber-ray images dockerfile NAME`` prints a
Dockerfile that builds the same image.
"""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import docker
from docker.errors import DockerException, ImageNotFound
from docker.models.images import Image
from docker.utils import parse_repository_tag

from faber_ray.config import DEFAULT_IMAGE
from faber_ray.errors import SandboxError
from faber_ray.hostpath import cache_dir, locked
from faber_ray.images.recipes import BASE, IMAGE_LABEL, PACKAGES_LABEL, RECIPE_LABEL, SANDBOX_UID, Recipe, recipe
from faber_ray.images.rootfs import Progress, build_base, build_image_rootfs, require_root

__all__ = [
    "IMAGE_LABEL",
    "SANDBOX_UID",
    "ImageState",
    "ensure_base",
    "ensure_image",
    "ensure_images",
    "image_exists",
    "image_state",
]


@dataclass(frozen=True)
class ImageState:
    """What the engine holds under a recipe's name."""

    name: str
    present: bool
    #: Present and built from the recipe as it is now.
    current: bool
    size: int = 0
    #: "package=version ..." as installed, from the image's label.
    packages: str = ""


def image_exists(client: docker.DockerClient, name: str = DEFAULT_IMAGE) -> bool:
    """Tell whether the engine already has ``name`` (of any recipe), so callers can skip work."""
    return _get(client, name) is not None


def image_state(client: docker.DockerClient, target: Recipe | str) -> ImageState:
    """Whether the image of ``target`` (a recipe or an image name) is there and up to date."""
    wanted = target if isinstance(target, Recipe) else recipe(target)
    image = _get(client, wanted.name)
    if image is None:
        return ImageState(wanted.name, present=False, current=False)
    labels = image.labels or {}
    return ImageState(
        wanted.name,
        present=True,
        current=labels.get(RECIPE_LABEL) == wanted.digest,
        size=int(image.attrs.get("Size") or 0),
        packages=labels.get(PACKAGES_LABEL, ""),
    )


def ensure_image(
    client: docker.DockerClient,
    target: Recipe | str = DEFAULT_IMAGE,
    *,
    force: bool = False,
    progress: Progress | None = None,
) -> bool:
    """Make sure the image of ``target`` exists and is current; return True if it had to be built."""
    return bool(ensure_images(client, [target], force=force, progress=progress))


def ensure_images(
    client: docker.DockerClient,
    targets: Iterable[Recipe | str],
    *,
    force: bool = False,
    progress: Progress | None = None,
) -> list[str]:
    """Build every image of ``targets`` that is missing or stale; return the names built.

    Safe to call from many processes at once: a file lock serialises builds and
    each image's state is checked again under it. ``force`` rebuilds the named
    images from a freshly debootstrapped base (downloaded .debs are still reused).
    """
    say = progress or (lambda _msg: None)
    wanted = list(dict.fromkeys(t if isinstance(t, Recipe) else recipe(t) for t in targets))
    if not force:
        wanted = [r for r in wanted if not image_state(client, r).current]
        if not wanted:
            return []
    cache = cache_dir()
    built: list[str] = []
    with locked(cache):
        fresh_base = False
        for item in wanted:
            state = image_state(client, item)
            if state.current and not force:
                continue
            started = time.monotonic()
            note = "stale (its recipe changed)" if state.present and not state.current else "missing"

            def step(message: str, name: str = item.name, since: float = started) -> None:
                say(f"{name}: {message} [{time.monotonic() - since:.0f} s]")

            step("forced rebuild" if force else note)
            tarball = cache / f"image-{item.slug}-{platform.machine()}-{item.digest}.tar"
            listing = tarball.with_suffix(".packages")
            if force or not tarball.exists():
                require_root(item.name)
                base = _ensure_base(cache, rebuild=force and not fresh_base, say=step)
                fresh_base = fresh_base or force
                packages = build_image_rootfs(item, base, tarball, cache / "debs", cache / "lists", step)
                listing.write_text(packages)
                _drop_others(cache, f"image-{item.slug}-{platform.machine()}-*", keep=tarball.stem)
            else:
                step(f"reusing cached root filesystem {tarball.name}")
            packages = listing.read_text().strip() if listing.exists() else ""
            step(f"docker import as {item.name}")
            _import(client, tarball, item, packages)
            step("ready")
            built.append(item.name)
    return built


def ensure_base(*, force: bool = False, progress: Progress | None = None) -> Path:
    """The shared base every image starts from, debootstrapped if missing; its tarball's path."""
    cache = cache_dir()
    with locked(cache):
        return _ensure_base(cache, rebuild=force, say=progress or (lambda _msg: None))


def _ensure_base(cache: Path, *, rebuild: bool, say: Progress) -> Path:
    """The shared base tarball, debootstrapped only when missing (or ``rebuild``)."""
    base = cache / f"base-{BASE.suite}-{platform.machine()}-{BASE.digest}.tar"
    if rebuild or not base.exists():
        require_root("the sandbox images")
        (cache / "debs").mkdir(exist_ok=True)
        (cache / "lists").mkdir(exist_ok=True)
        build_base(base, cache / "debs", cache / "lists", say)
        _drop_others(cache, f"base-{BASE.suite}-{platform.machine()}-*", keep=base.stem)
    else:
        say(f"reusing cached base {base.name}")
    return base


def _drop_others(cache: Path, pattern: str, *, keep: str) -> None:
    """Delete cached tarballs of older recipes, so the cache does not grow with every change."""
    for old in cache.glob(pattern):
        if old.stem != keep:
            old.unlink(missing_ok=True)


def _get(client: docker.DockerClient, name: str) -> Image | None:
    try:
        return client.images.get(name)
    except ImageNotFound:
        return None
    except DockerException as exc:
        raise SandboxError(
            f"could not ask the Docker engine for image {name!r} ({exc}); "
            "check that dockerd is running and that you may use its socket"
        ) from exc


def _import(client: docker.DockerClient, tarball: Path, item: Recipe, packages: str) -> None:
    """``docker import`` the tarball as the recipe's image and drop the image it replaces."""
    repository, tag = parse_repository_tag(item.name)
    old = _get(client, item.name)
    try:
        answer = client.api.import_image_from_file(
            str(tarball), repository=repository, tag=tag or "latest", changes=item.changes(packages)
        )
    except DockerException as exc:
        raise SandboxError(
            f"docker import of {tarball} failed ({exc}); check that dockerd is running "
            f"and has disk space, or delete {tarball} and retry"
        ) from exc
    for line in answer.splitlines():
        if line.strip() and "error" in json.loads(line):
            raise SandboxError(
                f"docker import of {tarball} failed: {json.loads(line)['error']}; delete {tarball} and retry"
            )
    new = _get(client, item.name)
    if new is None:
        raise SandboxError(f"docker import reported success but {item.name!r} is missing; retry")
    if old is not None and old.id != new.id:
        try:
            client.images.remove(old.id)
        except DockerException:
            pass  # still used by a container; it goes when that container does
