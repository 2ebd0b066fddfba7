"""Every rule of ``faber_ray.validation``: each refusal names the task index, the field and the reason."""

from __future__ import annotations

import pickle
from typing import Any

import pytest

from faber_ray.config import ExecutorConfig
from faber_ray.errors import (
    ExecutorError,
    ResourceLimitError,
    SecurityPolicyError,
    TaskValidationError,
)
from faber_ray.models import ResourceLimits, Task
from faber_ray.validation import (
    MAX_ARG_BYTES,
    MAX_PATH_BYTES,
    MAX_PATH_DEPTH,
    check_limits,
    check_path,
    validate_batch,
    validate_task,
)

MiB = 1024**2
CONFIG = ExecutorConfig()


def refused(task: Any, config: ExecutorConfig = CONFIG, index: int = 0) -> ExecutorError:
    """The error ``validate_task`` raises for ``task`` (fails the test if it accepts it)."""
    with pytest.raises(ExecutorError) as caught:
        validate_task(task, config, index)
    return caught.value


def echo(**fields: Any) -> dict[str, Any]:
    return {"command": "echo", **fields}


# Accepted --------------------------------------------------------------------


@pytest.mark.parametrize(
    "task",
    [
        {"command": "echo", "args": ["hi"]},
        Task(command="echo", args=["hi"]),
        echo(env={"A_1": "x", "_B": ""}, stdin=b"\x00binary\xff"),
        echo(files={"a.txt": "x", "dir/sub/b.bin": b"\x00\x01", "dir/c": ""}),
        echo(limits={"timeout": 1, "memory": "64m", "disk": "16m", "max_output": "1k"}),
        echo(image="faber-ray/python:3"),
        {"command": "/bin/echo", "args": ["reboot"]},  # only the command's name is matched
        {"command": "rebooted"},  # globs match whole names
    ],
    ids=["dict", "Task", "env-and-binary-stdin", "files", "limits", "image", "blocked-word-as-arg", "near-name"],
)
def test_accepts_valid_tasks(task: Any) -> None:
    checked = validate_task(task, CONFIG)
    assert isinstance(checked, Task)
    expected = task if isinstance(task, Task) else Task.model_validate(task)
    assert checked == expected


def test_dict_becomes_a_task_with_parsed_sizes() -> None:
    checked = validate_task(echo(limits={"memory": "128m"}), CONFIG)
    assert checked.limits is not None and checked.limits.memory == 128 * MiB


@pytest.mark.filterwarnings("ignore::UserWarning")  # pydantic warns while dumping the bad value
def test_task_built_without_validation_is_revalidated() -> None:
    sneaky = Task.model_construct(command="echo", args=[1])
    error = refused(sneaky)
    assert isinstance(error, TaskValidationError)
    assert error.field == "args.0"


# Command ---------------------------------------------------------------------


@pytest.mark.parametrize("command", ["", "   ", "\t\n"])
def test_empty_command(command: str) -> None:
    error = refused({"command": command}, index=4)
    assert type(error) is TaskValidationError
    assert (error.task_index, error.field) == (4, "command")
    assert "empty" in str(error)
    assert str(error).startswith("task 4, field 'command': ")


@pytest.mark.parametrize(
    ("task", "field"),
    [
        ({"command": "ec\x00ho"}, "command"),
        (echo(args=["ok", "b\x00d"]), "args.1"),
        (echo(env={"A": "x\x00y"}), "env.A"),
        (echo(files={"a\x00b": "x"}), "files.a\x00b"),
    ],
    ids=["command", "args", "env", "file-path"],
)
def test_nul_bytes(task: dict, field: str) -> None:
    error = refused(task)
    assert type(error) is TaskValidationError
    assert error.field == field
    assert "NUL" in error.reason


@pytest.mark.parametrize("name", ["1A", "A-B", "A B", "A=B", "", "É", "LD_PRELOAD\n", "A\n", "\nA"])
def test_bad_env_names(name: str) -> None:
    error = refused(echo(env={name: "x"}))
    assert type(error) is TaskValidationError
    assert error.field == f"env.{name}"
    assert "[A-Za-z_]" in error.reason


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("", "empty"),
        ("/etc/passwd", "absolute"),
        ("../escape", "'..'"),
        ("a/../../b", "'..'"),
        ("a/..", "'..'"),
        ("./a", "normalised"),
        ("a//b", "normalised"),
        ("a/", "normalised"),
        ("a/./b", "normalised"),
        (".", "working directory"),
    ],
)
def test_bad_file_paths(path: str, reason: str) -> None:
    error = refused(echo(files={path: "x"}))
    assert type(error) is TaskValidationError
    assert error.field == f"files.{path}"
    assert reason in error.reason


def test_a_thousand_directories_deep_is_refused() -> None:
    path = "/".join(["a"] * 1000)
    error = refused({"command": "true", "files": {path: "x"}})
    assert type(error) is TaskValidationError
    assert error.field == f"files.{path}"
    assert f"at most {MAX_PATH_DEPTH}" in error.reason


def test_path_depth_limit() -> None:
    deepest = "/".join(["d"] * MAX_PATH_DEPTH + ["f"])
    validate_task(echo(files={deepest: "x"}), CONFIG)
    assert "deep" in refused(echo(files={"d/" + deepest: "x"})).reason


def test_name_length_limit() -> None:
    validate_task(echo(files={"d/" + "n" * 255: "x"}), CONFIG)
    error = refused(echo(files={"d/" + "n" * 256: "x"}))
    assert "256 bytes" in error.reason and "255" in error.reason
    assert "bytes" in refused(echo(files={"é" * 128: "x"})).reason  # bytes, not characters


def test_path_length_limit() -> None:
    names = ["n" * 200] * (MAX_PATH_BYTES // 201)
    longest = "/".join(names + ["f" * (MAX_PATH_BYTES - len("/".join(names)) - 1)])
    assert len(longest) == MAX_PATH_BYTES
    validate_task(echo(files={longest: "x"}), CONFIG)
    error = refused(echo(files={longest + "f": "x"}))
    assert f"at most {MAX_PATH_BYTES}" in error.reason


def test_path_rules_take_a_field_name() -> None:
    with pytest.raises(TaskValidationError) as caught:
        check_path("../x", 4, "collect.0")
    assert (caught.value.task_index, caught.value.field) == (4, "collect.0")
    check_path("out/result.txt", 0, "collect.0")


def test_file_count_cap() -> None:
    validate_task(echo(files={f"f{i}": "" for i in range(1000)}), CONFIG)
    error = refused(echo(files={f"f{i}": "" for i in range(1001)}))
    assert type(error) is TaskValidationError
    assert error.field == "files"
    assert "1001 files, over the cap of 1000" in error.reason
    assert "over the cap of 2" in refused(echo(files={"a": "", "b": "", "c": ""}), ExecutorConfig(max_files=2)).reason


@pytest.mark.parametrize("files", [{"a": "x", "a/b": "y"}, {"a/b/c": "y", "a/b": "x"}])
def test_file_path_under_another_file(files: dict[str, str]) -> None:
    error = refused(echo(files=files))
    assert type(error) is TaskValidationError
    assert error.field is not None and error.field.startswith("files.a/b")
    assert "which is a file" in error.reason


# Size caps -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("task", "field"),
    [
        ({"command": "x" * (MAX_ARG_BYTES + 1)}, "command"),
        (echo(args=["ok", "x" * (MAX_ARG_BYTES + 1)]), "args.1"),
        (echo(env={"BIG": "x" * (MAX_ARG_BYTES + 1 - len("BIG="))}), "env.BIG"),
    ],
    ids=["command", "args", "env"],
)
def test_one_string_over_the_kernels_limit(task: dict, field: str) -> None:
    """MAX_ARG_STRLEN (128 KiB with the NUL) would fail with E2BIG at exec time."""
    roomy = ExecutorConfig(max_command_bytes="1m", max_env_bytes="1m")
    error = refused(task, roomy)
    assert type(error) is TaskValidationError
    assert error.field == field
    assert "MAX_ARG_STRLEN" in error.reason


def test_one_string_at_the_kernels_limit_is_accepted() -> None:
    roomy = ExecutorConfig(max_command_bytes="1m", max_env_bytes="1m")
    validate_task(echo(args=["x" * MAX_ARG_BYTES]), roomy)
    validate_task(echo(env={"BIG": "x" * (MAX_ARG_BYTES - len("BIG="))}), roomy)


SMALL = ExecutorConfig(max_command_bytes=16, max_stdin_bytes=16, max_files_bytes=16, max_env_bytes=16)


@pytest.mark.parametrize(
    ("fits", "too_big", "field"),
    [
        (echo(args=["x" * 12]), echo(args=["x" * 13]), "command"),  # "echo" + args, 16 bytes
        (echo(stdin="x" * 16), echo(stdin="x" * 17), "stdin"),
        (echo(stdin=b"x" * 16), echo(stdin=b"x" * 17), "stdin"),
        # paths count too: "a" + 9 + "b" + 5 = 16
        (echo(files={"a": "x" * 9, "b": b"x" * 5}), echo(files={"a": "x" * 9, "b": b"x" * 6}), "files"),
        (echo(files={"a" * 16: ""}), echo(files={"a" * 17: ""}), "files"),
        (echo(env={"AB": "x" * 14}), echo(env={"AB": "x" * 15}), "env"),
        (echo(stdin="é" * 8), echo(stdin="é" * 9), "stdin"),  # counted in UTF-8 bytes
    ],
    ids=["command", "stdin-str", "stdin-bytes", "files", "file-names", "env", "utf8"],
)
def test_size_caps(fits: dict, too_big: dict, field: str) -> None:
    validate_task(fits, SMALL)
    error = refused(too_big, SMALL)
    assert type(error) is TaskValidationError
    assert error.field == field
    assert "over the cap of 16" in error.reason


# Limits ----------------------------------------------------------------------

LIMIT_FIELDS = list(ResourceLimits.model_fields)


@pytest.mark.parametrize("name", LIMIT_FIELDS)
@pytest.mark.parametrize("value", [0, -1])
def test_limits_must_be_positive(name: str, value: int) -> None:
    error = refused(echo(limits={name: value}))
    assert type(error) is TaskValidationError
    assert error.field == f"limits.{name}"
    assert "greater than zero" in error.reason


@pytest.mark.parametrize("name", ["timeout", "cpu_time"])
def test_nan_limits_are_refused(name: str) -> None:
    error = refused(echo(limits={name: float("nan")}))
    assert type(error) is TaskValidationError
    assert error.field == f"limits.{name}"


OVER_CEILING = {
    "timeout": 601,
    "cpu_time": 601,
    "memory": "9g",
    "max_processes": 4097,
    "max_output": "65m",
    "disk": "5g",
}


@pytest.mark.parametrize("name", LIMIT_FIELDS)
def test_limits_over_ceiling(name: str) -> None:
    limits: dict[str, Any] = {name: OVER_CEILING[name]}
    if name == "disk":
        limits["memory"] = "8g"  # keep disk < memory, so the ceiling is what trips
    error = refused(echo(limits=limits), index=2)
    assert type(error) is ResourceLimitError
    assert (error.task_index, error.field) == (2, f"limits.{name}")
    assert "ceiling" in error.reason


def test_limits_at_the_ceiling_are_accepted() -> None:
    validate_task(echo(limits={"timeout": 600, "memory": "8g", "disk": "4g", "max_processes": 4096}), CONFIG)


def test_config_defaults_over_a_ceiling_refuse_tasks_that_rely_on_them() -> None:
    config = ExecutorConfig(default_timeout=100, ceilings={"timeout": 50})
    error = refused({"command": "echo"}, config)
    assert type(error) is ResourceLimitError
    assert error.field == "limits.timeout"


@pytest.mark.parametrize("disk", ["64m", "65m"])
def test_disk_must_be_below_memory(disk: str) -> None:
    error = refused(echo(limits={"memory": "64m", "disk": disk}))
    assert type(error) is ResourceLimitError
    assert error.field == "limits.disk"
    assert "below memory" in error.reason


def test_disk_below_default_memory_is_accepted() -> None:
    validate_task(echo(limits={"disk": "500m"}), CONFIG)


def test_an_unset_disk_shrinks_under_a_small_memory_limit() -> None:
    """`--memory 64m` alone must run: the default disk (64 MiB) shrinks to half the memory."""
    task = validate_task(echo(limits={"memory": "64m"}), CONFIG)
    assert CONFIG.resolve_limits(task.limits).disk == 32 * MiB


def test_a_disk_the_task_set_too_high_is_still_refused() -> None:
    error = refused(echo(limits={"memory": "64m", "disk": "64m"}))
    assert type(error) is ResourceLimitError
    assert error.field == "limits.disk"


@pytest.mark.parametrize("memory", ["5m", 6 * MiB - 1, 1])
def test_memory_below_the_engines_minimum(memory: Any) -> None:
    error = refused(echo(limits={"memory": memory}), index=3)
    assert type(error) is ResourceLimitError
    assert (error.task_index, error.field) == (3, "limits.memory")
    assert "6 MiB" in error.reason


def test_memory_at_the_engines_minimum_is_accepted() -> None:
    validate_task(echo(limits={"memory": "6m"}), CONFIG)


def test_a_config_default_below_the_engines_minimum_refuses_tasks_that_rely_on_it() -> None:
    error = refused(echo(), ExecutorConfig(default_memory_limit="4m"))
    assert type(error) is ResourceLimitError
    assert error.field == "limits.memory"


@pytest.mark.parametrize("name", LIMIT_FIELDS)
@pytest.mark.parametrize("value", [True, False])
def test_booleans_are_not_numbers(name: str, value: bool) -> None:
    error = refused(echo(limits={name: value}))
    assert type(error) is TaskValidationError
    assert error.field == f"limits.{name}"
    assert "boolean" in error.reason


def test_limit_rules_take_a_field_prefix() -> None:
    """The limit rules name whatever field holds the limits (e.g. a step's)."""
    with pytest.raises(ResourceLimitError) as caught:
        check_limits(ResourceLimits(memory="64m", disk="64m"), CONFIG, 2, "steps.1.limits")
    assert (caught.value.task_index, caught.value.field) == (2, "steps.1.limits.disk")
    assert check_limits(None, CONFIG, 0).memory == CONFIG.default_memory_limit


# Policy ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    ["reboot", "/sbin/reboot", " shutdown ", "halt", "/usr/sbin/poweroff", "mkfs", "mkfs.ext4", "/sbin/mkfs.xfs"],
)
def test_blocked_commands(command: str) -> None:
    error = refused({"command": command})
    assert type(error) is SecurityPolicyError
    assert error.field == "command"
    assert "blocked" in error.reason


def test_blocked_commands_follow_the_config() -> None:
    config = ExecutorConfig(blocked_commands=["rm", "curl*"])
    for command in ("rm", "/bin/rm", "curl-config"):
        assert type(refused({"command": command}, config)) is SecurityPolicyError
    validate_task({"command": "reboot"}, config)  # the default list was replaced


def test_image_outside_allowed_images() -> None:
    config = ExecutorConfig(allowed_images=["faber-ray/python:3"])
    validate_task(echo(image="faber-ray/python:3"), config)
    validate_task(echo(), config)  # the default image is allowed
    error = refused(echo(image="alpine:latest"), config)
    assert type(error) is SecurityPolicyError
    assert error.field == "image"
    assert "alpine:latest" in error.reason


def test_default_image_outside_allowed_images() -> None:
    config = ExecutorConfig(allowed_images=["other:1"])
    error = refused(echo(), config)
    assert type(error) is SecurityPolicyError
    assert error.field == "image"


def test_by_default_only_faber_ray_images_are_allowed() -> None:
    assert validate_task(echo(image="faber-ray/other:2"), CONFIG).image == "faber-ray/other:2"
    error = refused(echo(image="anything:1"))
    assert type(error) is SecurityPolicyError
    assert error.field == "image"
    assert "['*']" in error.reason  # says how to allow any image


def test_a_star_allows_any_image() -> None:
    assert validate_task(echo(image="anything:1"), ExecutorConfig(allowed_images=["*"])).image == "anything:1"


def test_allowed_images_are_globs() -> None:
    config = ExecutorConfig(allowed_images=["python:3.*", "faber-ray/python:3"])
    validate_task(echo(image="python:3.12"), config)
    assert type(refused(echo(image="python:2.7"), config)) is SecurityPolicyError


def test_network_needs_allow_network() -> None:
    error = refused(echo(network=True))
    assert type(error) is SecurityPolicyError
    assert error.field == "network"
    assert validate_task(echo(network=True), ExecutorConfig(allow_network=True)).network is True


# Types (pydantic errors, translated) ----------------------------------------


@pytest.mark.parametrize(
    ("task", "field"),
    [
        (echo(args=[1]), "args.0"),
        (echo(args="hi"), "args"),
        (echo(limits={"memory": "lots"}), "limits.memory"),
        (echo(limits={"timeout": "soon"}), "limits.timeout"),
        (echo(limits={"wall": 1}), "limits.wall"),
        (echo(env={"A": 1}), "env.A"),
        (echo(env=["A=1"]), "env"),
        (echo(network="maybe"), "network"),
        ({"command": None}, "command"),
        ({"args": ["x"]}, "command"),
        (echo(comand="typo"), "comand"),
    ],
)
def test_wrong_types_name_the_field(task: dict, field: str) -> None:
    error = refused(task, index=5)
    assert type(error) is TaskValidationError
    assert error.task_index == 5
    assert error.field == field
    assert f"field '{field}'" in str(error)


@pytest.mark.parametrize(
    ("task", "field"),
    [
        (echo(files={"a": 1}), "files.a"),
        (echo(files={"str": 1}), "files.str"),  # a file may be called like a type
        (echo(files={"d/e": None}), "files.d/e"),
        (echo(stdin=5), "stdin"),
        (echo(limits={"timeout": "soon"}), "limits.timeout"),
        (echo(limits={"memory": [1]}), "limits.memory"),
    ],
)
def test_type_errors_name_only_the_users_field(task: dict, field: str) -> None:
    """No union-member or validator names (files.a.str, ...function-before[...])."""
    error = refused(task)
    assert type(error) is TaskValidationError
    assert error.field == field


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"command": "echo", "args": "hello"}, "args"),
        ({"command": "echo", "files": {"a": 1}}, "files.a"),
        ({"command": "echo", "limits": {"timeout": True}}, "limits.timeout"),
        ({"command": "echo", "limits": ResourceLimits(memory="64m"), "network": "maybe"}, "network"),
        ({"command": "echo", "steps": [{"command": 3}]}, "steps.0.command"),
    ],
)
def test_building_a_task_raises_task_validation_error(fields: dict, field: str) -> None:
    with pytest.raises(TaskValidationError) as caught:
        Task(**fields)
    assert isinstance(caught.value, ExecutorError)
    assert caught.value.field == field
    assert caught.value.task_index is None
    copy = pickle.loads(pickle.dumps(caught.value))
    assert (type(copy), copy.field, copy.reason) == (TaskValidationError, field, caught.value.reason)


def test_building_limits_raises_task_validation_error() -> None:
    with pytest.raises(TaskValidationError) as caught:
        ResourceLimits(timeout=True)
    assert caught.value.field == "timeout"


def test_tasks_still_pickle() -> None:
    task = Task(command="echo", args=["hi"], files={"a": b"\x00"}, limits={"memory": "64m"})
    assert pickle.loads(pickle.dumps(task)) == task


@pytest.mark.parametrize("task", ["echo hi", ["echo"], 3, None])
def test_non_task_items(task: Any) -> None:
    error = refused(task, index=1)
    assert type(error) is TaskValidationError
    assert (error.task_index, error.field) == (1, "task")
    assert "Task or a dict" in error.reason


# Batches ---------------------------------------------------------------------


def test_batch_returns_tasks_in_order() -> None:
    checked = validate_batch([{"command": "echo", "args": [str(i)]} for i in range(3)], CONFIG)
    assert [task.args for task in checked] == [["0"], ["1"], ["2"]]


def test_batch_accepts_any_iterable() -> None:
    assert len(validate_batch(({"command": "true"} for _ in range(2)), CONFIG)) == 2


@pytest.mark.parametrize(
    ("bad", "kind"),
    [({"command": ""}, TaskValidationError), ({"command": "reboot"}, SecurityPolicyError),
     (echo(limits={"timeout": 9999}), ResourceLimitError)],
)
def test_one_bad_task_refuses_the_whole_batch_naming_its_index(bad: dict, kind: type) -> None:
    batch = [{"command": "echo"}, {"command": "true"}, bad, {"command": "echo"}]
    with pytest.raises(kind) as caught:
        validate_batch(batch, CONFIG)
    assert caught.value.task_index == 2
    assert str(caught.value).startswith("task 2, ")


def test_first_bad_task_is_reported() -> None:
    with pytest.raises(TaskValidationError) as caught:
        validate_batch([{"command": "echo"}, {"command": ""}, {"command": ""}], CONFIG)
    assert caught.value.task_index == 1


@pytest.mark.parametrize("batch", [[], ()])
def test_empty_batch(batch: Any) -> None:
    with pytest.raises(TaskValidationError, match="empty") as caught:
        validate_batch(batch, CONFIG)
    assert caught.value.field == "tasks"


@pytest.mark.parametrize(("batch", "got"), [(None, "got None"), (3, "got a int")])
def test_not_a_batch_at_all(batch: Any, got: str) -> None:
    with pytest.raises(TaskValidationError) as caught:
        validate_batch(batch, CONFIG)
    assert (caught.value.field, caught.value.reason) == ("tasks", f"expected a list of tasks, {got}")


@pytest.mark.parametrize("single", [Task(command="echo"), {"command": "echo"}, "echo"])
def test_a_single_task_is_not_a_batch(single: Any) -> None:
    with pytest.raises(TaskValidationError, match="list of tasks"):
        validate_batch(single, CONFIG)


def test_files_that_cannot_fit_the_disk_are_refused_before_anything_runs() -> None:
    from faber_ray import ExecutorConfig, ResourceLimitError, Task
    from faber_ray.validation import validate_task

    config = ExecutorConfig()
    task = Task(command="true", files={"big.bin": b"x" * (9 * 1024 * 1024)}, limits={"disk": "8m", "memory": "64m"})
    with pytest.raises(ResourceLimitError) as caught:
        validate_task(task, config, 3)
    assert (caught.value.task_index, caught.value.field) == (3, "files")
    assert "disk" in caught.value.reason


# Steps and collect -------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "field", "reason"),
    [
        ({}, "command", "needs a command"),
        ({"command": "echo", "steps": [{"command": "true"}]}, "steps", "not both"),
        ({"steps": []}, "steps", "empty"),
        ({"command": ""}, "command", "empty"),
        ({"steps": [{"command": " "}]}, "steps.0.command", "empty"),
        ({"steps": [{"command": "true"}, {"command": "true", "env": {"1X": "y"}}]}, "steps.1.env.1X", "must match"),
        ({"steps": [{"command": "true", "args": ["x" * 200_000]}]}, "steps.0.args.0", "MAX_ARG_STRLEN"),
        ({"steps": [{"command": "true", "limits": {"timeout": 0}}]}, "steps.0.limits.timeout", "greater than zero"),
        ({"steps": [{"command": "true", "limits": {"timeout": 10_000}}]}, "steps.0.limits.timeout", "ceiling"),
        ({"steps": [{"command": "reboot"}]}, "steps.0.command", "blocked"),
        ({"steps": [{"command": "true"}], "stdin": "x"}, "stdin", "on each step"),
        ({"command": "true", "collect": ["/etc/passwd"]}, "collect.0", "absolute"),
        ({"command": "true", "collect": ["ok", "a/../../x"]}, "collect.1", "'..'"),
        ({"command": "true", "collect": [""]}, "collect.0", "empty"),
        ({"steps": [{"command": "true"}], "files": {"/".join(["d"] * 70): "x"}}, "files." + "/".join(["d"] * 70), "deep"),
    ],
)
def test_steps_and_collect_are_refused_with_field_and_reason(fields: dict, field: str, reason: str) -> None:
    with pytest.raises(ExecutorError) as caught:
        validate_task(fields, ExecutorConfig(), 7)
    assert (caught.value.task_index, caught.value.field) == (7, field)
    assert reason in caught.value.reason


def test_a_step_inherits_the_tasks_limits_and_the_ceilings_hold_for_the_merge() -> None:
    from faber_ray.sandbox.spec import task_memory
    from faber_ray.steps import runs_of, sandbox_disk

    config = ExecutorConfig()
    task = validate_task(
        {"limits": {"timeout": 5, "memory": "256m"}, "steps": [{"command": "a"}, {"command": "b", "limits": {"memory": "1g"}}]},
        config,
    )
    first, second = runs_of(task, config)
    assert (first.limits.timeout, first.limits.memory) == (5, 256 * 1024**2)
    assert (second.limits.timeout, second.limits.memory) == (5, 1024**3)
    assert task_memory(task, config) == 1024**3
    assert sandbox_disk(task, config) == config.default_disk
    with pytest.raises(ExecutorError) as caught:  # the task's disk is fine for itself, not under a step's memory
        validate_task({"limits": {"disk": "100m"}, "steps": [{"command": "a", "limits": {"memory": "64m"}}]}, config)
    assert caught.value.field == "steps.0.limits.disk"


def test_too_many_steps_are_refused() -> None:
    with pytest.raises(ExecutorError) as caught:
        validate_task({"steps": [{"command": "true"}] * 3}, ExecutorConfig(max_steps=2))
    assert (caught.value.field, caught.value.reason) == ("steps", "3 steps, over the cap of 2")
