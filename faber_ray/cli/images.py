"""``faber-ray images``: build the sandbox images that are missing, list them, print their Dockerfiles.

A NAME is a language (``cpp``) or an image (``faber-ray/gcc:12``); the
languages are the way most users think of an image, the image names the way
the engine does.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from faber_ray.cli.render import human_bytes
from faber_ray.config import ExecutorConfig
from faber_ray.errors import SandboxError
from faber_ray.languages import LANGUAGES
from faber_ray.images.recipes import RECIPES, Recipe

__all__ = ["register", "resolve"]


def register(sub: Any) -> None:
    """Add ``images`` and its actions to the top-level subparsers ``sub``."""
    images = sub.add_parser(
        "images", help="build and list the sandbox images",
        description="Build the sandbox images offline from Debian packages (debootstrap, apt-get in a chroot, "
        "docker import; no registry needed), list them, or print a Dockerfile for one.",
    )
    actions = images.add_subparsers(dest="images_command", required=True, metavar="ACTION")
    ensure = actions.add_parser(
        "ensure", help="build the named images that are missing or stale",
        description="Build each named image unless the engine already has it, built from its current recipe.\n"
        "The first build debootstraps a shared Debian base (about a minute); every image after\nthat takes "
        "seconds to a minute, and a second run, with everything cached, does nothing.\nNeeds root to build.",
        epilog="examples: faber-ray images ensure        (the default image)\n"
        "          faber-ray images ensure cpp java rust\n          faber-ray images ensure --all",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ensure.add_argument("names", nargs="*", metavar="NAME",
                        help="a language (e.g. cpp) or an image (e.g. faber-ray/gcc:12); default: the default image")
    ensure.add_argument("--all", action="store_true", help="every image of every language")
    ensure.add_argument("--force", action="store_true",
                        help="rebuild even if up to date, from a fresh base (downloaded packages are reused)")
    ensure.add_argument("--config", metavar="FILE", help="ExecutorConfig YAML (for default_image and docker_host)")
    ensure.set_defaults(func=cmd_ensure)

    listing = actions.add_parser("list", help="show every image, its languages and whether it is built",
                                 description="Show every image faber-ray builds: its languages, whether the engine "
                                 "has it up to date, its size and its main packages' versions.")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.add_argument("--config", metavar="FILE", help="ExecutorConfig YAML (for docker_host)")
    listing.set_defaults(func=cmd_list)

    dockerfile = actions.add_parser("dockerfile", help="print a Dockerfile that builds the same image",
                                    description="Print a Dockerfile for the image, for machines that reach a "
                                    "registry: faber-ray images dockerfile cpp | docker build -t faber-ray/gcc:12 -")
    dockerfile.add_argument("name", metavar="NAME", help="a language or an image")
    dockerfile.set_defaults(func=cmd_dockerfile)


def resolve(names: Sequence[str], *, every: bool = False, default: str = "") -> list[Recipe]:
    """The recipes that ``names`` (languages or images) mean, in order, without repeats."""
    if every:
        return list(RECIPES.values())
    chosen: list[Recipe] = []
    for name in names or [default]:
        image = LANGUAGES[name].image if name in LANGUAGES else name
        if image not in RECIPES:
            raise SandboxError(
                f"'{name}' is neither a language ({', '.join(LANGUAGES)}) nor an image faber-ray builds "
                f"({', '.join(RECIPES)})"
            )
        if RECIPES[image] not in chosen:
            chosen.append(RECIPES[image])
    return chosen


def _languages_of(image: str) -> list[str]:
    return [lang.name for lang in LANGUAGES.values() if lang.image == image]


def cmd_ensure(args: argparse.Namespace) -> int:
    from faber_ray.sandbox.engine import connect
    from faber_ray.images.image import ensure_images

    config = ExecutorConfig.load(args.config)
    recipes = resolve(args.names, every=args.all, default=config.default_image)
    built = ensure_images(
        connect(config.docker_host), recipes, force=args.force,
        progress=lambda line: print(f"faber-ray images: {line}", flush=True),
    )
    for item in recipes:
        print(f"faber-ray: image {item.name} {'built' if item.name in built else 'is up to date'}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from faber_ray.sandbox.engine import connect
    from faber_ray.images.image import image_state

    client = connect(ExecutorConfig.load(args.config).docker_host)
    states = [image_state(client, item) for item in RECIPES.values()]
    if args.json:
        rows = [{**asdict(state), "languages": _languages_of(state.name)} for state in states]
        print(json.dumps(rows, indent=2))
        return 0
    table = [("IMAGE", "LANGUAGES", "STATE", "SIZE", "PACKAGES")] + [
        (
            state.name,
            ",".join(_languages_of(state.name)) or "-",
            "up to date" if state.current else "stale" if state.present else "missing",
            human_bytes(state.size) if state.present else "-",
            state.packages or "-",
        )
        for state in states
    ]
    widths = [max(len(line[i]) for line in table) for i in range(4)]
    for line in table:
        sys.stdout.write("  ".join(cell.ljust(width) for cell, width in zip(line, widths)) + "  " + line[-1] + "\n")
    return 0


def cmd_dockerfile(args: argparse.Namespace) -> int:
    sys.stdout.write(resolve([args.name])[0].dockerfile())
    return 0
