"""The image recipes: which sandbox images faber-ray builds and what goes into each.

Every image is one shared base — Debian bookworm, ``minbase`` variant, with
the security updates and the unprivileged ``sandbox`` user — plus a few
Debian packages and a little shaping (environment, symlinks). This module is
plain data so the table can be read in one place and checked without root,
debootstrap or a Docker engine; :mod:`faber_ray.images.rootfs` builds a
recipe and :mod:`faber_ray.images.image` puts it into the engine.

A recipe's :attr:`Recipe.digest` covers everything that decides what the image
holds. It is stamped on the image as the ``faber-ray.recipe`` label and names
the cached root filesystem, so editing a recipe makes every engine and cache
that holds the old one rebuild it, with nobody remembering to bump a number.
Only a change in the build *code* (shaping, pruning) needs :data:`BUILD_REVISION`.
"""

from __future__ import annotations

import hashlib
import json
import shlex
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from types import MappingProxyType

from faber_ray.config import DEFAULT_IMAGE
from faber_ray.errors import SandboxError

__all__ = [
    "BASE",
    "BASE_SETUP",
    "BEFORE_INSTALL",
    "BUILD_REVISION",
    "IMAGE_LABEL",
    "PACKAGES_LABEL",
    "PRUNE",
    "RECIPES",
    "RECIPE_LABEL",
    "SANDBOX_UID",
    "Base",
    "Recipe",
    "recipe",
]

#: Bump when rootfs.py changes what a built image holds (its shaping or pruning).
BUILD_REVISION = 2
SANDBOX_UID = 10001
#: Every image faber-ray builds carries it (value "1"), so its images can be told from others.
IMAGE_LABEL = "faber-ray.image"
#: The digest of the recipe the image was built from; a different one means stale.
RECIPE_LABEL = "faber-ray.recipe"
#: "package=version ..." of the recipe's packages as installed, for `images list` and the README.
PACKAGES_LABEL = "faber-ray.packages"

_COMMON_ENV = (("PATH", "/usr/local/bin:/usr/bin:/bin"), ("LANG", "C.UTF-8"))
#: Shell commands, run as root in the base's root filesystem: the unprivileged user and /work.
BASE_SETUP = (
    f"echo 'sandbox:x:{SANDBOX_UID}:{SANDBOX_UID}:faber-ray sandbox:/work:/bin/sh' >> /etc/passwd",
    f"echo 'sandbox:x:{SANDBOX_UID}:' >> /etc/group",
    f"install -d -o {SANDBOX_UID} -g {SANDBOX_UID} -m 1777 /work",
)
#: Shell commands run before any package is installed. dpkg leaves man pages out, but
#: update-alternatives still links them (java's), so the directory must exist.
BEFORE_INSTALL = ("mkdir -p /usr/share/man/man1",)
#: Docs, man pages, translations, logs and apt's caches are dead weight in a sandbox.
PRUNE = (
    "/var/cache/apt/*.bin",
    "/var/cache/apt/archives/*.deb",
    "/var/lib/apt/lists/*",
    "/var/log/*",
    "/usr/share/doc/*",
    "/usr/share/man/*",
    "/usr/share/info/*",
    "/usr/share/locale/*",
    "/usr/share/lintian/*",
)


@dataclass(frozen=True)
class Base:
    """The root filesystem every image starts from, debootstrapped once and cached."""

    suite: str = "bookworm"
    mirror: str = "http://deb.debian.org/debian"
    security_mirror: str = "http://deb.debian.org/debian-security"
    variant: str = "minbase"

    def sources(self) -> str:
        """apt's sources.list: the release, its stable updates and its security updates."""
        return (
            f"deb {self.mirror} {self.suite} main\n"
            f"deb {self.mirror} {self.suite}-updates main\n"
            f"deb {self.security_mirror} {self.suite}-security main\n"
        )

    @property
    def digest(self) -> str:
        return _digest({"revision": BUILD_REVISION, "setup": BASE_SETUP, "prune": PRUNE, **asdict(self)})


BASE = Base()


@dataclass(frozen=True)
class Recipe:
    """One image: ``BASE`` plus ``packages`` (installed without recommends) and shaping."""

    name: str
    packages: tuple[str, ...]
    summary: str
    #: Variables on top of PATH and LANG, which every image sets alike.
    env: tuple[tuple[str, str], ...] = ()
    #: (link, target) symlinks made after the packages are in.
    links: tuple[tuple[str, str], ...] = ()
    cmd: tuple[str, ...] = ("sh",)

    @property
    def digest(self) -> str:
        """12 hex digits that change whenever anything deciding the image's content does."""
        return _digest({"base": BASE.digest, **asdict(self), "summary": None})

    @property
    def slug(self) -> str:
        """The name as a file-name fragment: ``faber-ray/gcc:12`` → ``faber-ray_gcc_12``."""
        return self.name.replace("/", "_").replace(":", "_")

    def setup(self) -> list[str]:
        """Shell commands, run as root in the image's root once its packages are in."""
        return [f"ln -sf {shlex.quote(target)} {shlex.quote(link)}" for link, target in self.links]

    def environment(self) -> dict[str, str]:
        return dict(_COMMON_ENV + self.env)

    def changes(self, packages: str = "") -> list[str]:
        """The Dockerfile instructions ``docker import`` applies to the root filesystem."""
        labels = {IMAGE_LABEL: "1", RECIPE_LABEL: self.digest}
        if packages:
            labels[PACKAGES_LABEL] = packages
        return [
            "USER sandbox",
            "WORKDIR /work",
            *(f"ENV {key}={value}" for key, value in self.environment().items()),
            f"CMD {json.dumps(list(self.cmd))}",
            *(f"LABEL {key}={json.dumps(value)}" for key, value in labels.items()),
        ]


    def dockerfile(self) -> str:
        """The same image for a machine that reaches a registry: ``docker build -t NAME -``."""
        packages = " ".join(self.packages)
        run = [
            "apt-get update",
            *BEFORE_INSTALL,
            f"DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends {packages}",
            *BASE_SETUP,
            *self.setup(),
            "rm -rf " + " ".join(PRUNE),
        ]
        return "\n".join([
            f"# {self.name}: {self.summary}. Generated by `faber-ray images dockerfile {self.name}`.",
            f"FROM debian:{BASE.suite}-slim",
            "RUN " + " \\\n && ".join(run),
            *self.changes(),
            "",
        ])


def _digest(data: object) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:12]


PYTHON = Recipe(
    DEFAULT_IMAGE,
    ("python3", "python3-pytest"),
    "Python 3.11 with pytest, and bash: the default image",
    links=(("/usr/local/bin/python", "/usr/bin/python3"),),
    cmd=("python3",),
)
GCC = Recipe("faber-ray/gcc:12", ("gcc", "g++", "libc6-dev"), "GCC 12: C and C++ compilers with the C library headers")
JAVA = Recipe("faber-ray/java:17", ("openjdk-17-jdk-headless",), "OpenJDK 17 JDK, headless")
NODE = Recipe("faber-ray/node:18", ("nodejs",), "Node.js 18")
GO = Recipe(
    "faber-ray/go:1.19",
    ("golang-go", "golang-1.19-go"),
    "Go 1.19, set up to build offline on a read-only root",
    # The root is read-only and HOME (/work) is the task's own space, so the build
    # cache and GOPATH go to /tmp. Nothing may be downloaded (no network): GOPROXY=off
    # makes a missing module fail at once with a clear message. Without gcc in the
    # image, cgo cannot work, so every build is pure Go.
    env=(
        ("GOCACHE", "/tmp/go-cache"),
        ("GOPATH", "/tmp/go"),
        ("GOPROXY", "off"),
        ("CGO_ENABLED", "0"),
    ),
)
RUST = Recipe("faber-ray/rust:1.63", ("rustc",), "rustc 1.63 (no cargo: nothing to fetch crates from), linking with gcc")

#: Every image faber-ray builds, by image name.
RECIPES: Mapping[str, Recipe] = MappingProxyType({r.name: r for r in (PYTHON, GCC, JAVA, NODE, GO, RUST)})


def recipe(name: str) -> Recipe:
    """The recipe that builds image ``name``; refuses a name no recipe builds."""
    try:
        return RECIPES[name]
    except KeyError:
        raise SandboxError(
            f"faber-ray has no recipe for image {name!r}; it builds {', '.join(RECIPES)}", field="image"
        ) from None
