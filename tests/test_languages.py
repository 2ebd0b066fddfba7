"""The language table, checked without an engine: names, images, commands, default limits."""

from __future__ import annotations

import dataclasses

import pytest

from faber_ray import ExecutorConfig, Task, TaskValidationError
from faber_ray.config import DEFAULT_IMAGE
from faber_ray.languages import LANGUAGES, Language, language
from faber_ray.images.recipes import RECIPES
from faber_ray.validation import validate_task

REQUIRED = {
    "python": DEFAULT_IMAGE,
    "c": "faber-ray/gcc:12",
    "cpp": "faber-ray/gcc:12",
    "java": "faber-ray/java:17",
    "javascript": "faber-ray/node:18",
    "go": "faber-ray/go:1.19",
    "rust": "faber-ray/rust:1.63",
    "bash": DEFAULT_IMAGE,
}
COMPILED = {"c", "cpp", "java", "go", "rust"}
HEAVY_COMPILERS = {"java", "go", "rust"}
ALL = sorted(LANGUAGES)


def test_the_issues_languages_are_there_on_their_images() -> None:
    assert {name: lang.image for name, lang in LANGUAGES.items()} == REQUIRED


@pytest.mark.parametrize("name", ALL)
def test_each_entry_is_keyed_by_its_name_and_has_a_recipe(name: str) -> None:
    lang = LANGUAGES[name]
    assert lang.name == name
    assert lang.image in RECIPES
    assert lang.version and lang.version[0].isdigit()
    assert lang.title and lang.example


@pytest.mark.parametrize("name", ALL)
def test_commands_name_the_source_file_and_only_compiled_languages_compile(name: str) -> None:
    lang = LANGUAGES[name]
    assert lang.compiled == (name in COMPILED)
    if lang.compile is not None:
        assert lang.source_file in lang.compile
        assert lang.source_file not in lang.run  # the run starts the compiled program
    else:
        assert lang.source_file in lang.run
    assert "/" not in lang.source_file


@pytest.mark.parametrize("name", ALL)
def test_default_limits_pass_the_executors_validation(name: str) -> None:
    lang = LANGUAGES[name]
    config = ExecutorConfig()
    for limits in (lang.compile_limits, lang.run_limits):
        task = Task(command="sh", args=["-c", "true"], image=lang.image, limits=limits)
        assert validate_task(task, config).limits == limits


@pytest.mark.parametrize("name", sorted(HEAVY_COMPILERS))
def test_heavy_compilers_get_more_than_a_run(name: str) -> None:
    config = ExecutorConfig()
    compile_limits = config.resolve_limits(LANGUAGES[name].compile_limits)
    run = config.resolve_limits(LANGUAGES[name].run_limits)
    assert compile_limits.memory > run.memory
    assert compile_limits.max_processes > run.max_processes
    assert compile_limits.timeout > run.timeout
    assert compile_limits.cpu_time > run.cpu_time


@pytest.mark.parametrize("name", sorted(COMPILED))
def test_compile_limits_leave_room_for_the_tmpfs(name: str) -> None:
    resolved = ExecutorConfig().resolve_limits(LANGUAGES[name].compile_limits)
    assert resolved.disk < resolved.memory


def test_language_returns_the_entry() -> None:
    assert language("rust") is LANGUAGES["rust"]


def test_an_unknown_language_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(TaskValidationError) as caught:
        language("cobol")
    assert caught.value.field == "language"
    assert "'cobol'" in caught.value.reason
    for name in LANGUAGES:
        assert name in caught.value.reason


def test_the_table_cannot_be_changed() -> None:
    with pytest.raises(TypeError):
        LANGUAGES["cobol"] = LANGUAGES["c"]  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        LANGUAGES["c"].run = ("rm",)  # type: ignore[misc]
    assert isinstance(LANGUAGES["c"].compile, tuple)


def test_a_language_can_be_made_for_another_toolchain() -> None:
    lang = Language("lua", "5.4", "example/lua:5.4", "main.lua", None, ("lua", "main.lua"))
    assert not lang.compiled
    assert lang.compile_limits.memory is None  # unset: the executor's default
