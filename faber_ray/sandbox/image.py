"""Build the default sandbox image without an image registry.

Machines running faber-ray often reach Debian's package mirror but no image
registry, so ``docker pull`` / ``docker build FROM ...`` cannot work there.
Instead the image is made from scratch: ``debootstrap`` a minimal bookworm
with python3, add the unprivileged ``sandbox`` user, then ``docker import`` the
root filesystem. The rootfs tarball is cached so that re-creating the image
(after ``docker rmi`` or an engine reset) takes seconds, not a debootstrap.
Where a registry is reachable, the ``Dockerfile`` beside this module builds
the same image.

Run ``python3 -m faber_ray.sandbox.image [--force]`` to build it by hand.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import docker
from docker.errors import DockerException, ImageNotFound
from docker.utils import parse_repository_tag

from faber_ray.config import DEFAULT_IMAGE
from faber_ray.errors import SandboxError

__all__ = ["DOCKERFILE", "IMAGE_LABEL", "SANDBOX_UID", "ensure_image", "image_exists"]

SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
# Bump whenever the rootfs recipe changes, so stale cached tarballs are not reused.
RECIPE_VERSION = 1
SANDBOX_UID = 10001
IMAGE_LABEL = "faber-ray.image"
DOCKERFILE = Path(__file__).with_name("Dockerfile")

_CHANGES = [
    "USER sandbox",
    "WORKDIR /work",
    "ENV PATH=/usr/local/bin:/usr/bin:/bin",
    "ENV LANG=C.UTF-8",
    'CMD ["python3"]',
    f"LABEL {IMAGE_LABEL}=1",
]
# Docs, man pages, translations, logs and apt's caches are dead weight in a sandbox.
_PRUNE = [
    "var/cache/apt/*.bin",
    "var/cache/apt/archives/*.deb",
    "var/lib/apt/lists/*",
    "var/log/*",
    "usr/share/doc/*",
    "usr/share/man/*",
    "usr/share/info/*",
    "usr/share/locale/*",
]
# debootstrap lives in /usr/sbin, which an ordinary user's PATH may lack.
_SBIN_PATH = f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin"

Progress = Callable[[str], None]


def image_exists(client: docker.DockerClient, name: str = DEFAULT_IMAGE) -> bool:
    """Tell whether the engine already has ``name``, so callers can skip a build."""
    try:
        client.images.get(name)
    except ImageNotFound:
        return False
    except DockerException as exc:
        raise SandboxError(
            f"could not ask the Docker engine for image {name!r} ({exc}); "
            "check that dockerd is running and that you may use its socket"
        ) from exc
    return True


def ensure_image(
    client: docker.DockerClient,
    name: str = DEFAULT_IMAGE,
    *,
    force: bool = False,
    progress: Progress | None = None,
) -> bool:
    """Make sure ``name`` exists in the engine; return True if it had to be built.

    Safe to call from many processes at once: a file lock serialises builds and
    the existence check is repeated under it. ``force`` rebuilds from scratch,
    ignoring both the existing image and the cached rootfs.
    """
    say = progress or (lambda _msg: None)
    if not force and image_exists(client, name):
        return False
    cache = _cache_dir()
    with _locked(cache / ".lock"):
        if not force and image_exists(client, name):
            return False
        tarball = cache / f"rootfs-{SUITE}-{platform.machine()}-r{RECIPE_VERSION}.tar"
        if force or not tarball.exists():
            _build_rootfs_tarball(tarball, say)
        else:
            say(f"reusing cached root filesystem {tarball}")
        say(f"importing {tarball} as {name}")
        _import(client, tarball, name)
    say(f"image {name} is ready")
    return True


def _cache_dir() -> Path:
    """Where built rootfs tarballs live (``$XDG_CACHE_HOME/faber-ray``)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    path = Path(base) / "faber-ray"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SandboxError(f"cannot create the image cache directory {path}: {exc}") from exc
    return path


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` so concurrent builds don't race."""
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _build_rootfs_tarball(tarball: Path, say: Progress) -> None:
    """debootstrap a rootfs, shape it for sandboxing and tar it to ``tarball``."""
    if os.geteuid() != 0:
        raise SandboxError(
            "building the sandbox image needs root (debootstrap creates device "
            "nodes and chroots); run `sudo python3 -m faber_ray.sandbox.image`, or "
            f"where a registry is reachable: docker build -t {DEFAULT_IMAGE} {DOCKERFILE.parent}"
        )
    debootstrap = _find_debootstrap(say)
    rootfs = Path(tempfile.mkdtemp(prefix="rootfs-", dir=tarball.parent))
    try:
        say(f"debootstrap {SUITE} with python3 (about 40 s)")
        _run(
            [debootstrap, "--variant=minbase", "--include=python3", SUITE, str(rootfs), MIRROR],
            f"debootstrap could not install Debian {SUITE} from {MIRROR}; "
            "check that the mirror is reachable and the disk has ~500 MB free",
        )
        try:
            _shape_rootfs(rootfs)
        except OSError as exc:
            raise SandboxError(f"could not prepare the rootfs in {rootfs}: {exc}") from exc
        say("packing root filesystem")
        partial = tarball.with_suffix(".partial")
        _run(
            ["tar", "--numeric-owner", "--exclude=./dev/*", "-C", str(rootfs), "-cf", str(partial), "."],
            f"could not write the rootfs tarball {partial}; check free disk space",
        )
        partial.replace(tarball)
    finally:
        _unmount_under(rootfs)
        shutil.rmtree(rootfs, ignore_errors=True)


def _find_debootstrap(say: Progress) -> str:
    """Return debootstrap's path, installing it with apt where we can."""
    found = shutil.which("debootstrap", path=_SBIN_PATH)
    if found:
        return found
    if not shutil.which("apt-get"):
        raise SandboxError(
            "debootstrap is not installed and there is no apt-get to install it; "
            f"install debootstrap, or build from {DOCKERFILE} where a registry is reachable"
        )
    say("installing debootstrap with apt-get")
    noninteractive = {"DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "debootstrap"]
    try:
        _run(install, "apt-get could not install debootstrap", noninteractive)
    except SandboxError:  # a fresh machine may have no package lists yet
        _run(["apt-get", "update", "-q"], "apt-get update failed; check the apt sources", noninteractive)
        _run(install, "apt-get could not install debootstrap; install it by hand", noninteractive)
    found = shutil.which("debootstrap", path=_SBIN_PATH)
    if not found:
        raise SandboxError("apt-get installed debootstrap but it is not on PATH; install it by hand")
    return found


def _shape_rootfs(rootfs: Path) -> None:
    """Add the unprivileged user, /work, the ``python`` alias; drop dead weight."""
    etc = rootfs / "etc"
    with open(etc / "passwd", "a") as passwd:
        passwd.write(f"sandbox:x:{SANDBOX_UID}:{SANDBOX_UID}:faber-ray sandbox:/work:/bin/sh\n")
    with open(etc / "group", "a") as group:
        group.write(f"sandbox:x:{SANDBOX_UID}:\n")
    work = rootfs / "work"
    work.mkdir()
    os.chown(work, SANDBOX_UID, SANDBOX_UID)
    work.chmod(0o1777)
    (rootfs / "usr/local/bin/python").symlink_to("/usr/bin/python3")
    # debootstrap copies the host's; Docker bind-mounts its own at run time.
    for leaked in ("hostname", "resolv.conf"):
        (etc / leaked).unlink(missing_ok=True)
    for pattern in _PRUNE:
        for entry in rootfs.glob(pattern):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()


def _unmount_under(rootfs: Path) -> None:
    """Unmount what a failed debootstrap left mounted (/proc, /sys, a bound /dev).

    Without this, cleaning up with rmtree could descend into the host's /dev.
    """
    prefix = str(rootfs.resolve()) + "/"
    with open("/proc/self/mounts") as mounts:
        points = [line.split()[1] for line in mounts if line.split()[1].startswith(prefix)]
    for point in sorted(points, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True)


def _import(client: docker.DockerClient, tarball: Path, name: str) -> None:
    """``docker import`` the tarball as ``name`` and drop the image it replaces."""
    repository, tag = parse_repository_tag(name)
    try:
        old = client.images.get(name).id
    except ImageNotFound:
        old = None
    except DockerException as exc:
        raise SandboxError(f"could not ask the Docker engine about {name!r}: {exc}") from exc
    try:
        answer = client.api.import_image_from_file(
            str(tarball), repository=repository, tag=tag or "latest", changes=_CHANGES
        )
    except DockerException as exc:
        raise SandboxError(
            f"docker import of {tarball} failed ({exc}); check that dockerd is running "
            f"and has disk space, or delete {tarball} and retry"
        ) from exc
    for line in answer.splitlines():
        if line.strip() and "error" in json.loads(line):
            raise SandboxError(
                f"docker import of {tarball} failed: {json.loads(line)['error']}; "
                f"delete {tarball} and retry"
            )
    try:
        new = client.images.get(name).id
    except DockerException as exc:
        raise SandboxError(f"docker import reported success but {name!r} is missing: {exc}") from exc
    if old and old != new:
        try:
            client.images.remove(old)
        except DockerException:
            pass  # still used by a container; it goes when that container does


def _run(cmd: list[str], failure: str, extra_env: dict[str, str] | None = None) -> None:
    """Run ``cmd``; on failure raise SandboxError with ``failure`` and the output's tail.

    PATH gains the sbin directories because debootstrap calls chroot, mount etc.
    """
    env = {**os.environ, "PATH": _SBIN_PATH, **(extra_env or {})}
    try:
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    except OSError as exc:
        raise SandboxError(f"{failure} ({cmd[0]}: {exc})") from exc
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-10:])
        raise SandboxError(f"{failure} (exit {done.returncode}):\n{tail}")


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: build the image if missing, printing progress."""
    parser = argparse.ArgumentParser(
        prog="python3 -m faber_ray.sandbox.image", description=main.__doc__
    )
    parser.add_argument("--name", default=DEFAULT_IMAGE, help="image to ensure")
    parser.add_argument("--force", action="store_true", help="rebuild from scratch")
    args = parser.parse_args(argv)
    try:
        built = ensure_image(
            docker.from_env(), args.name, force=args.force,
            progress=lambda msg: print(f"faber-ray image: {msg}", flush=True),
        )
    except (SandboxError, DockerException) as exc:
        print(f"faber-ray image: error: {exc}", file=sys.stderr)
        return 1
    if not built:
        print(f"faber-ray image: {args.name} already present")
    return 0


if __name__ == "__main__":
    sys.exit(main())
