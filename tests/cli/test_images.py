"""`faber-ray images`: which images a NAME means, and ensure/list/dockerfile against the real engine."""

from __future__ import annotations

import json

import pytest

from faber_ray.cli import main
from faber_ray.cli.images import resolve
from faber_ray.config import DEFAULT_IMAGE
from faber_ray.errors import SandboxError
from faber_ray.images.recipes import RECIPES


def names(*args: str, every: bool = False) -> list[str]:
    return [item.name for item in resolve(list(args), every=every, default=DEFAULT_IMAGE)]


def test_no_name_means_the_default_image() -> None:
    assert names() == [DEFAULT_IMAGE]


def test_languages_and_images_mean_their_images_once_each_in_order() -> None:
    assert names("cpp", "faber-ray/java:17", "c", "bash") == ["faber-ray/gcc:12", "faber-ray/java:17", DEFAULT_IMAGE]


def test_all_means_every_image() -> None:
    assert names(every=True) == list(RECIPES)


def test_an_unknown_name_is_refused_listing_languages_and_images() -> None:
    with pytest.raises(SandboxError) as caught:
        names("cobol")
    assert "'cobol'" in caught.value.reason
    assert "javascript" in caught.value.reason and "faber-ray/node:18" in caught.value.reason


def test_ensure_of_present_images_builds_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["images", "ensure", "c", "python"]) == 0
    out = capsys.readouterr().out
    assert "faber-ray: image faber-ray/gcc:12 is up to date" in out
    assert f"faber-ray: image {DEFAULT_IMAGE} is up to date" in out
    assert "faber-ray images:" not in out  # no build progress


def test_ensure_refuses_an_unknown_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["images", "ensure", "cobol"]) == 2
    assert "neither a language" in capsys.readouterr().err


def test_list_shows_every_image_with_its_languages(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["images", "list", "--json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert list(rows) == list(RECIPES)
    assert rows["faber-ray/gcc:12"]["languages"] == ["c", "cpp"]
    assert rows[DEFAULT_IMAGE]["languages"] == ["python", "bash"]
    assert main(["images", "list"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["IMAGE", "LANGUAGES", "STATE", "SIZE", "PACKAGES"]
    assert len(table) == 1 + len(RECIPES)


def test_dockerfile_prints_the_recipe_of_a_language(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["images", "dockerfile", "rust"]) == 0
    assert "apt-get install -y --no-install-recommends rustc" in capsys.readouterr().out
