"""How long each sandbox image takes to build the first time (cold cache) and the second time.

For a true first build this uses a cache directory of its own (a fresh
temporary one unless ``--cache DIR`` is given), so nothing is downloaded or
debootstrapped ahead of it, and it builds each recipe under a name of its own
(``faber-ray-bench/...``), so the images that tests and users rely on are never
touched. It prints, per image:

* **first**: the build from the cached base: apt-get in a chroot (downloading
  its .debs, unless an earlier image already did), prune, tar, docker import;
* **second**: ``ensure`` again, with the image there: the label check;
* **re-import**: ``ensure`` after ``docker rmi``: a docker import of the cached root filesystem;
* the image's size and the .debs it downloaded.

The shared base (debootstrap and upgrade) is built once before them and
timed on its own. Run: python -m benchmarks.bench_images [--images cpp java] [--keep]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import docker

from faber_ray.cli.images import resolve
from faber_ray.config import DEFAULT_IMAGE
from faber_ray.images.image import ensure_base, ensure_image, image_state

MiB = 1024**2


def _size(path: Path) -> int:
    return sum(entry.stat().st_size for entry in path.rglob("*") if entry.is_file()) if path.exists() else 0


def _timed(action: Callable[[], object]) -> float:
    started = time.monotonic()
    action()
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", nargs="*", default=[], metavar="NAME", help="languages or images (default: all)")
    parser.add_argument("--cache", metavar="DIR", help="cache directory to use (default: a fresh temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the bench images and the cache")
    parser.add_argument("--verbose", action="store_true", help="print the build's progress lines")
    args = parser.parse_args()
    recipes = resolve(args.images, every=not args.images, default=DEFAULT_IMAGE)
    root = Path(args.cache or tempfile.mkdtemp(prefix="faber-ray-bench-cache-"))
    os.environ["XDG_CACHE_HOME"] = str(root)  # image.cache_dir() reads it on every call
    debs = root / "faber-ray" / "debs"
    say = (lambda line: print(f"    {line}", flush=True)) if args.verbose else None
    client = docker.from_env()

    print(f"cache: {root}")
    base_time = _timed(lambda: ensure_base(progress=say))
    print(f"base (debootstrap {'' if not args.cache else 'or reuse '}+ upgrade): {base_time:.1f} s, "
          f"{_size(debs) / MiB:.0f} MiB of .debs", flush=True)
    print(f"{'image':<22} {'first':>8} {'second':>8} {'re-import':>10} {'size':>9} {'.debs':>8}")
    benched = []
    try:
        for item in recipes:
            bench = dataclasses.replace(item, name=item.name.replace("faber-ray/", "faber-ray-bench/"))
            benched.append(bench)
            before = _size(debs)
            first = _timed(lambda: ensure_image(client, bench, progress=say))
            downloaded = _size(debs) - before
            second = _timed(lambda: ensure_image(client, bench))
            client.images.remove(bench.name, force=True)
            again = _timed(lambda: ensure_image(client, bench))
            size = image_state(client, bench).size
            print(f"{item.name:<22} {first:7.1f}s {second:7.3f}s {again:9.1f}s {size / MiB:6.0f} MiB "
                  f"{downloaded / MiB:5.0f} MiB", flush=True)
    finally:
        if not args.keep:
            for bench in benched:
                try:
                    client.images.remove(bench.name, force=True)
                except docker.errors.ImageNotFound:
                    pass
            if not args.cache:
                shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
