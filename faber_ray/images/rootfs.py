"""Build a recipe's root filesystem as a tarball, offline from Debian packages (needs root).

How, and why this way:

* **The base once.** ``debootstrap --variant=minbase`` makes a minimal bookworm,
  which is then given the release's updates and security updates, the
  ``sandbox`` user and ``/work``, and packed as ``base-<digest>.tar``. Every
  image starts from that tarball, so a machine debootstraps once, not once per
  image (debootstrap is most of a minute even with every .deb at hand).
* **A layer per image.** The base is unpacked into a fresh directory and the
  recipe's packages go in with ``apt-get install`` in a chroot, from the mirror,
  without recommends. apt resolves dependencies properly (debootstrap's
  ``--include`` does not, and cannot pull security updates).
* **No .deb downloaded twice.** One package directory is shared by
  debootstrap (``--cache-dir``: it names the files as apt does) and by every
  chroot's apt (bind-mounted on ``/var/cache/apt/archives``), and so are apt's
  package lists. gcc comes down once for the C/C++ image and the Rust image.
* **Nothing leaks onto the host.** Every step that mounts (debootstrap's own
  /proc and /sys, our /proc, /dev nodes and bind mounts) runs in a private
  mount namespace (``unshare --mount``); the kernel drops those mounts when
  the step exits, however it exits, so removing a half-built tree can never
  descend into the host's /dev or the shared caches.
* **Small.** dpkg is told not to unpack docs, man pages and translations, and
  whatever debootstrap unpacked before that is pruned, as are apt's lists and
  logs. Each image is a single-layer ``docker import``, so images do not share
  the base's bytes on the engine's disk; that costs ~80 MB per image and saves
  a registry, a Dockerfile build and a network inside the engine.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from faber_ray.errors import SandboxError
from faber_ray.images.recipes import BASE, BASE_SETUP, BEFORE_INSTALL, PRUNE, Recipe

__all__ = ["Progress", "build_base", "build_image_rootfs", "require_root"]

Progress = Callable[[str], None]

# What dpkg then never unpacks in the layers (Debian's "slim" images do the same).
_DPKG_EXCLUDES = "".join(
    f"path-exclude=/usr/share/{part}/*\n" for part in ("doc", "man", "info", "locale", "lintian")
)
_APT_CONFIG = (
    'APT::Install-Recommends "false";\n'
    'APT::Install-Suggests "false";\n'
    'Dir::Cache::pkgcache "";\n'
    'Dir::Cache::srcpkgcache "";\n'
)
# debootstrap, chroot and unshare live in sbin, which an ordinary user's PATH may lack.
_SBIN_PATH = f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin"
_CHROOT_ENV = "PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive"
_DEVICES = ("null", "zero", "full", "random", "urandom", "tty")


def require_root(what: str) -> None:
    """Refuse early, with what to do, when not root: debootstrap and chroot need it."""
    if os.geteuid() != 0:
        raise SandboxError(
            f"building {what} needs root (debootstrap and apt-get run in a chroot); "
            "run `sudo faber-ray images ensure ...`, or `bash scripts/setup`"
        )


def build_base(tarball: Path, debs: Path, lists: Path, say: Progress) -> None:
    """debootstrap the shared base, bring it up to date, shape it and tar it to ``tarball``."""
    debootstrap = _find_debootstrap(say)
    with _scratch(tarball.parent) as rootfs:
        say(f"debootstrap {BASE.suite} {BASE.variant} from {BASE.mirror}")
        _run(
            _private([debootstrap, f"--variant={BASE.variant}", f"--cache-dir={debs}",
                      BASE.suite, str(rootfs), BASE.mirror]),
            f"debootstrap could not install Debian {BASE.suite} from {BASE.mirror}; "
            "check that the mirror is reachable and the disk has ~1 GB free",
        )
        _configure_apt(rootfs)
        say("apt-get upgrade: the release's updates and security updates")
        _chroot(rootfs, debs, lists, ["apt-get update -q", "apt-get upgrade -y -q", *BASE_SETUP],
                "apt-get could not update the base from the mirror; check that deb.debian.org is reachable")
        _pack(rootfs, tarball, say)


def build_image_rootfs(recipe: Recipe, base: Path, tarball: Path, debs: Path, lists: Path, say: Progress) -> str:
    """Unpack the base, install the recipe's packages, shape, prune and tar to ``tarball``.

    Returns ``"package=version ..."`` of the recipe's packages as installed.
    A recipe without packages never touches the mirror.
    """
    with _scratch(tarball.parent) as rootfs:
        _run(["tar", "--numeric-owner", "-xpf", str(base), "-C", str(rootfs)],
             f"could not unpack the base {base}; delete it and retry")
        install: list[str] = []
        if recipe.packages:
            packages = " ".join(shlex.quote(name) for name in recipe.packages)
            say(f"apt-get install {' '.join(recipe.packages)}")
            install = [
                "apt-get update -q",
                f"apt-get install -y -q {packages}",
                f"dpkg-query -W -f '${{Package}}=${{Version}} ' {packages} > /tmp/packages",
            ]
        _chroot(
            rootfs, debs, lists, [*install, *recipe.setup()] or [":"],
            f"apt-get could not install {', '.join(recipe.packages)} for {recipe.name}; "
            "check the package names and that deb.debian.org is reachable",
        )
        report = rootfs / "tmp" / "packages"
        versions = report.read_text().strip() if report.exists() else ""
        report.unlink(missing_ok=True)
        _pack(rootfs, tarball, say)
    return versions


def _configure_apt(rootfs: Path) -> None:
    """apt's sources (with updates and security) and settings, and dpkg's excludes."""
    try:
        etc = rootfs / "etc"
        (etc / "apt/sources.list").write_text(BASE.sources())
        (etc / "apt/apt.conf.d/90faber-ray").write_text(_APT_CONFIG)
        (etc / "dpkg/dpkg.cfg.d/90faber-ray-excludes").write_text(_DPKG_EXCLUDES)
    except OSError as exc:
        raise SandboxError(f"could not configure apt in the base rootfs {rootfs}: {exc}") from exc


def _chroot(rootfs: Path, debs: Path, lists: Path, commands: list[str], failure: str) -> None:
    """Run shell ``commands`` in a chroot of ``rootfs`` that has /proc, /dev, DNS and the shared caches.

    All of it happens in a private mount namespace, so the mounts vanish with it.
    """
    root = shlex.quote(str(rootfs))
    (debs / "partial").mkdir(parents=True, exist_ok=True)
    (lists / "partial").mkdir(parents=True, exist_ok=True)
    setup = [
        f"mount -t proc proc {root}/proc",
        f"mount -t tmpfs -o mode=755 dev {root}/dev",
        *(f"touch {root}/dev/{d} && mount --bind /dev/{d} {root}/dev/{d}" for d in _DEVICES),
        f"mount --bind {shlex.quote(str(debs))} {root}/var/cache/apt/archives",
        f"mount --bind {shlex.quote(str(lists))} {root}/var/lib/apt/lists",
        # Resolve names with the host's resolver while building; the image gets Docker's.
        f"cat /etc/resolv.conf > {root}/etc/resolv.conf",
    ]
    # apt downloads into partial/ as the unprivileged _apt.
    inside = " && ".join([
        "chown _apt:root /var/cache/apt/archives/partial /var/lib/apt/lists/partial", *BEFORE_INSTALL, *commands,
    ])
    script = " && ".join([*setup, f"chroot {root} /usr/bin/env -i {_CHROOT_ENV} sh -c {shlex.quote(inside)}"])
    try:
        _run(_private(["sh", "-c", "set -e; " + script]), failure)
    finally:
        (rootfs / "etc/resolv.conf").unlink(missing_ok=True)


def _pack(rootfs: Path, tarball: Path, say: Progress) -> None:
    """Prune, then tar ``rootfs`` to ``tarball`` atomically (a partial file never counts)."""
    # debootstrap copies the host's; Docker bind-mounts its own at run time.
    for leaked in ("etc/hostname", "etc/resolv.conf"):
        (rootfs / leaked).unlink(missing_ok=True)
    try:
        for pattern in PRUNE:
            for entry in rootfs.glob(pattern.lstrip("/")):
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()
    except OSError as exc:
        raise SandboxError(f"could not prune the rootfs in {rootfs}: {exc}") from exc
    say(f"packing {tarball.name}")
    partial = tarball.with_suffix(".partial")
    _run(
        ["tar", "--numeric-owner", "--exclude=./dev/*", "--exclude=./proc/*", "--exclude=./sys/*",
         "-C", str(rootfs), "-cf", str(partial), "."],
        f"could not write the rootfs tarball {partial}; check free disk space",
    )
    partial.replace(tarball)


@contextmanager
def _scratch(parent: Path) -> Iterator[Path]:
    """A fresh build directory under ``parent``, removed afterwards whatever happens."""
    rootfs = Path(tempfile.mkdtemp(prefix="rootfs-", dir=parent))
    try:
        yield rootfs
    finally:
        shutil.rmtree(rootfs, ignore_errors=True)


def _private(cmd: list[str]) -> list[str]:
    """``cmd`` in a private mount namespace: its mounts die with it."""
    return ["unshare", "--mount", "--propagation", "private", "--", *cmd]


def _find_debootstrap(say: Progress) -> str:
    """Return debootstrap's path, installing it with apt where we can."""
    found = shutil.which("debootstrap", path=_SBIN_PATH)
    if found:
        return found
    if not shutil.which("apt-get"):
        raise SandboxError(
            "debootstrap is not installed and there is no apt-get to install it; install debootstrap, "
            "or where a registry is reachable: faber-ray images dockerfile NAME | docker build -t NAME -"
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


def _run(cmd: list[str], failure: str, extra_env: dict[str, str] | None = None) -> None:
    """Run ``cmd``; on failure raise SandboxError with ``failure`` and the output's tail."""
    env = {**os.environ, "PATH": _SBIN_PATH, **(extra_env or {})}
    try:
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    except OSError as exc:
        raise SandboxError(f"{failure} ({cmd[0]}: {exc})") from exc
    if done.returncode != 0:
        output = (done.stdout + done.stderr).strip()
        with tempfile.NamedTemporaryFile("w", prefix="faber-ray-build-", suffix=".log", delete=False) as log:
            log.write(output + "\n")
        tail = "\n".join(output.splitlines()[-10:])
        raise SandboxError(f"{failure} (exit {done.returncode}; whole output in {log.name}):\n{tail}")
