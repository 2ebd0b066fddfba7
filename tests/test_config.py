"""ExecutorConfig: defaults, YAML, FABER_RAY_* variables, refusals, size strings."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
from pydantic import ValidationError

from faber_ray.config import DEFAULT_IMAGE, ExecutorConfig, TokenGrant
from faber_ray.errors import ConfigurationError, ExecutorError
from faber_ray.models import ResourceLimits, parse_byte_count

MiB = 1024**2
GiB = 1024**3


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No FABER_RAY_* variable of the caller's shell may leak into these tests."""
    for name in list(os.environ):
        if name.startswith("FABER_RAY_"):
            monkeypatch.delenv(name)


def test_defaults_match_the_design() -> None:
    config = ExecutorConfig()
    assert config.max_concurrent_tasks == 10
    assert config.default_timeout == 30
    assert config.default_memory_limit == 512 * MiB
    assert config.default_cpu_limit == 30
    assert config.enable_monitoring is True
    assert config.result_cache_size == 1000
    assert config.worker_pool_size == 1
    assert config.queue_size == 100
    assert config.default_max_output == 1 * MiB
    assert config.allow_network is False
    assert config.runtime is None
    assert config.default_image == DEFAULT_IMAGE == "faber-ray/python:3"
    assert config.allowed_images == ["faber-ray/*"]
    assert config.max_files == 1000


@pytest.mark.parametrize("blocked", ["reboot", "shutdown", "halt", "poweroff", "mkfs*"])
def test_default_blocked_commands(blocked: str) -> None:
    assert blocked in ExecutorConfig().blocked_commands


def test_default_blocked_list_is_not_shared_between_configs() -> None:
    first, second = ExecutorConfig(), ExecutorConfig()
    first.blocked_commands.append("rm")
    assert "rm" not in second.blocked_commands


def test_default_disk_is_below_default_memory() -> None:
    config = ExecutorConfig()
    assert 0 < config.default_disk < config.default_memory_limit


def test_resolve_limits_fills_only_unset_fields() -> None:
    config = ExecutorConfig()
    resolved = config.resolve_limits(ResourceLimits(timeout=5, memory="256m"))
    assert resolved.timeout == 5
    assert resolved.memory == 256 * MiB
    assert resolved.cpu_time == config.default_cpu_limit
    assert resolved.max_processes == config.default_max_processes
    assert resolved.max_output == config.default_max_output
    assert resolved.disk == config.default_disk
    assert config.resolve_limits(None) == config.resolve_limits(ResourceLimits())


@pytest.mark.parametrize(
    ("limits", "disk"),
    [
        ({"memory": "64m"}, 32 * MiB),  # the default disk shrinks to half the memory
        ({"memory": "128m"}, 64 * MiB),  # exactly the default
        ({"memory": "1g"}, 64 * MiB),  # never grows past the default
        ({"memory": "64m", "disk": "48m"}, 48 * MiB),  # a disk the task sets is kept
    ],
)
def test_an_unset_disk_fits_under_the_memory(limits: dict, disk: int) -> None:
    assert ExecutorConfig().resolve_limits(ResourceLimits(**limits)).disk == disk


def test_an_unset_disk_follows_a_small_default_memory() -> None:
    config = ExecutorConfig(default_memory_limit="32m")
    assert config.resolve_limits(None).disk == 16 * MiB


def test_config_is_frozen() -> None:
    config = ExecutorConfig()
    with pytest.raises(ValidationError):
        config.default_timeout = 1  # type: ignore[misc]
    assert config.default_timeout == 30


# YAML ------------------------------------------------------------------------


def test_from_yaml(tmp_path: Path) -> None:
    path = tmp_path / "faber.yaml"
    path.write_text(
        "max_concurrent_tasks: 3\n"
        "default_memory_limit: 256m\n"
        "allowed_images: [faber-ray/python:3]\n"
        "blocked_commands: [rm]\n"
        "ceilings: {timeout: 60, memory: 1g}\n"
        "runtime: runsc\n"
    )
    config = ExecutorConfig.from_yaml(path)
    assert config.max_concurrent_tasks == 3
    assert config.default_memory_limit == 256 * MiB
    assert config.allowed_images == ["faber-ray/python:3"]
    assert config.blocked_commands == ["rm"]
    assert config.ceilings.timeout == 60
    assert config.ceilings.memory == 1 * GiB
    assert config.runtime == "runsc"
    assert config.default_timeout == 30  # untouched fields keep their defaults


def test_empty_yaml_gives_defaults(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("")
    assert ExecutorConfig.from_yaml(path) == ExecutorConfig()


def test_environment_applies_on_top_of_yaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "faber.yaml"
    path.write_text("default_timeout: 5\nqueue_size: 7\n")
    monkeypatch.setenv("FABER_RAY_DEFAULT_TIMEOUT", "9")
    config = ExecutorConfig.from_yaml(path)
    assert (config.default_timeout, config.queue_size) == (9, 7)


def test_load_follows_faber_ray_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "faber.yaml"
    path.write_text("worker_pool_size: 2\n")
    monkeypatch.setenv("FABER_RAY_CONFIG", str(path))
    assert ExecutorConfig.load().worker_pool_size == 2


def test_load_without_a_file_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FABER_RAY_WORKER_POOL_SIZE", "6")
    assert ExecutorConfig.load().worker_pool_size == 6


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("- just\n- a list\n", "mapping"),
        ("key: [unclosed\n", "not valid YAML"),
    ],
)
def test_bad_yaml_file(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigurationError, match=needle):
        ExecutorConfig.from_yaml(path)


def test_missing_yaml_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read config file"):
        ExecutorConfig.from_yaml(tmp_path / "absent.yaml")


def test_bad_yaml_value_names_field_and_file(tmp_path: Path) -> None:
    path = tmp_path / "faber.yaml"
    path.write_text("queue_size: 0\n")
    with pytest.raises(ConfigurationError) as caught:
        ExecutorConfig.from_yaml(path)
    assert caught.value.field == "queue_size"
    assert str(path) in str(caught.value)


def test_unknown_yaml_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "faber.yaml"
    path.write_text("max_concurent_tasks: 3\n")
    with pytest.raises(ConfigurationError) as caught:
        ExecutorConfig.from_yaml(path)
    assert caught.value.field == "max_concurent_tasks"


# Environment -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "raw", "field", "expected"),
    [
        ("FABER_RAY_MAX_CONCURRENT_TASKS", "4", "max_concurrent_tasks", 4),
        ("FABER_RAY_DEFAULT_TIMEOUT", "2.5", "default_timeout", 2.5),
        ("FABER_RAY_DEFAULT_MEMORY_LIMIT", "256m", "default_memory_limit", 256 * MiB),
        ("FABER_RAY_DEFAULT_MAX_OUTPUT", "64KiB", "default_max_output", 64 * 1024),
        ("FABER_RAY_ENABLE_MONITORING", "false", "enable_monitoring", False),
        ("FABER_RAY_ALLOW_NETWORK", "true", "allow_network", True),
        ("FABER_RAY_RUNTIME", "runsc", "runtime", "runsc"),
        ("FABER_RAY_DEFAULT_IMAGE", "example/img:1", "default_image", "example/img:1"),
        ("FABER_RAY_ALLOWED_IMAGES", '["a:1", "b:2"]', "allowed_images", ["a:1", "b:2"]),
        ("FABER_RAY_BLOCKED_COMMANDS", '["rm", "dd"]', "blocked_commands", ["rm", "dd"]),
    ],
)
def test_from_env(
    monkeypatch: pytest.MonkeyPatch, variable: str, raw: str, field: str, expected: object
) -> None:
    monkeypatch.setenv(variable, raw)
    assert getattr(ExecutorConfig.from_env(), field) == expected


def test_from_env_nested_ceilings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FABER_RAY_CEILINGS", '{"timeout": 90, "memory": "2g"}')
    config = ExecutorConfig.from_env()
    assert (config.ceilings.timeout, config.ceilings.memory) == (90, 2 * GiB)


def test_from_env_takes_an_explicit_mapping(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FABER_RAY_QUEUE_SIZE", "5")
    assert ExecutorConfig.from_env({"FABER_RAY_QUEUE_SIZE": "8"}).queue_size == 8


def test_unrelated_variables_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUEUE_SIZE", "1")
    monkeypatch.setenv("XFABER_RAY_QUEUE_SIZE", "1")
    assert ExecutorConfig.from_env() == ExecutorConfig()


@pytest.mark.parametrize(
    "variable",
    ["FABER_RAY_AGENT_DIR", "FABER_RAY_CGROUP_ROOT", "FABER_RAY_WITH_GVISOR", "FABER_RAY_MN_WORKERS"],
)
def test_variables_read_elsewhere_are_not_config_typos(monkeypatch: pytest.MonkeyPatch, variable: str) -> None:
    monkeypatch.setenv(variable, "1")
    assert ExecutorConfig.from_env() == ExecutorConfig()


@pytest.mark.parametrize(
    ("variable", "suggestion"),
    [
        ("FABER_RAY_MAX_CONCURENT_TASKS", "FABER_RAY_MAX_CONCURRENT_TASKS"),
        ("FABER_RAY_DEFAULT_MEMORY", "FABER_RAY_DEFAULT_MEMORY_LIMIT"),
        ("FABER_RAY_QUEUESIZE", "FABER_RAY_QUEUE_SIZE"),
        ("FABER_RAY_queue_size", "FABER_RAY_QUEUE_SIZE"),
    ],
)
def test_a_misspelled_variable_is_refused_with_a_suggestion(
    monkeypatch: pytest.MonkeyPatch, variable: str, suggestion: str
) -> None:
    monkeypatch.setenv(variable, "3")
    with pytest.raises(ConfigurationError) as caught:
        ExecutorConfig.from_env()
    assert caught.value.field == variable
    assert f"unknown environment variable {variable}" in caught.value.reason
    assert f"did you mean {suggestion}?" in caught.value.reason


def test_a_misspelled_variable_is_refused_with_a_yaml_file_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "faber.yaml"
    path.write_text("queue_size: 7\n")
    monkeypatch.setenv("FABER_RAY_NO_SUCH_FIELD", "1")
    with pytest.raises(ConfigurationError, match="unknown environment variable FABER_RAY_NO_SUCH_FIELD"):
        ExecutorConfig.load(path)


# Refusals --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_concurrent_tasks", 0),
        ("max_concurrent_tasks", -1),
        ("worker_pool_size", 0),
        ("queue_size", "many"),
        ("result_cache_size", 0),
        ("default_timeout", 0),
        ("default_timeout", -5),
        ("default_cpu_limit", 0),
        ("default_memory_limit", "lots"),
        ("default_memory_limit", 0),
        ("default_max_output", "-1m"),
        ("default_disk", 0),
        ("enable_monitoring", "sometimes"),
        ("allowed_images", "faber-ray/python:3"),
        ("allowed_images", None),
        ("allowed_images", []),
        ("sandbox_cpus", 0),
        ("max_files", 0),
        ("max_task_output", 0),
        ("max_task_output", "2g"),  # above its bound, 1 GiB
        *((field, True) for field in (
            "max_concurrent_tasks", "worker_pool_size", "queue_size", "result_cache_size", "max_infra_retries",
            "node_sandbox_memory", "default_timeout", "default_cpu_limit", "default_memory_limit",
            "default_max_processes", "default_max_output", "default_disk", "sandbox_cpus", "max_command_bytes",
            "max_stdin_bytes", "max_files", "max_files_bytes", "max_env_bytes", "max_task_output",
        )),
        ("queue_size", False),
    ],
)
def test_bad_value_names_the_field(field: str, value: object) -> None:
    with pytest.raises(ConfigurationError) as caught:
        ExecutorConfig.build({field: value})
    assert caught.value.field == field
    assert f"field '{field}'" in str(caught.value)


def test_max_task_output_bounds_the_output_of_a_whole_task() -> None:
    """16 MiB by default over every stream of every step; a size string up to 1 GiB."""
    assert ExecutorConfig().max_task_output == 16 * MiB
    assert ExecutorConfig(max_task_output="1g").max_task_output == GiB
    with pytest.raises(ConfigurationError, match="1073741824"):
        ExecutorConfig(max_task_output=GiB + 1)


def test_null_allowed_images_says_how_to_allow_any() -> None:
    with pytest.raises(ConfigurationError, match=r"\['\*'\]"):
        ExecutorConfig(allowed_images=None)


def test_a_boolean_from_the_environment_is_not_a_number(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FABER_RAY_QUEUE_SIZE", "true")
    with pytest.raises(ConfigurationError) as caught:
        ExecutorConfig.from_env()
    assert caught.value.field == "queue_size"
    assert "boolean" in caught.value.reason


def test_bad_env_value_names_field_and_source(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FABER_RAY_DEFAULT_TIMEOUT", "soon")
    with pytest.raises(ConfigurationError) as caught:
        ExecutorConfig.from_env()
    assert caught.value.field == "default_timeout"
    assert "environment" in str(caught.value)


def test_bad_nested_value_names_the_nested_field() -> None:
    with pytest.raises(ConfigurationError) as caught:
        ExecutorConfig.build({"ceilings": {"memory": "huge"}})
    assert caught.value.field == "ceilings.memory"


def test_direct_construction_raises_configuration_error() -> None:
    """Callers only ever need ``except ExecutorError``, also for the plain constructor."""
    with pytest.raises(ConfigurationError) as caught:
        ExecutorConfig(max_concurrent_tasks=0)
    assert isinstance(caught.value, ExecutorError)
    assert caught.value.field == "max_concurrent_tasks"


# Size strings ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "size"),
    [
        (268435456, 268435456),
        ("268435456", 268435456),
        ("256m", 256 * MiB),
        ("256M", 256 * MiB),
        ("256MiB", 256 * MiB),
        ("256mb", 256 * MiB),
        (" 256 m ", 256 * MiB),
        ("1g", GiB),
        ("1.5k", 1536),
        ("2t", 2 * 1024**4),
        ("512", 512),
    ],
)
def test_size_strings(text: object, size: int) -> None:
    assert ExecutorConfig.build({"default_memory_limit": text}).default_memory_limit == size


@pytest.mark.parametrize("value", ["lots", "12q", "m", "", None, [1]])
def test_parse_byte_count_hands_non_sizes_on_unchanged(value: object) -> None:
    assert parse_byte_count(value) == value


def test_config_pickles_and_round_trips_through_json() -> None:
    """Configs travel to Ray actors."""
    config = ExecutorConfig(default_timeout=3, allowed_images=["x:1"], ceilings={"memory": "1g"})
    assert pickle.loads(pickle.dumps(config)) == config
    assert ExecutorConfig.model_validate_json(config.model_dump_json()) == config


def test_every_variable_the_scripts_read_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    """scripts/, .ci/ and cluster-configs/ set FABER_RAY_* variables; none may be refused as unknown."""
    import re

    root = Path(__file__).resolve().parent.parent
    sources = [*root.joinpath("scripts").iterdir(), root / ".ci" / "run", *root.joinpath("cluster-configs").rglob("*")]
    names = set()
    for source in sources:
        if source.is_file():
            names.update(re.findall(r"FABER_RAY_[A-Z0-9_]*[A-Z0-9]", source.read_text(errors="replace")))
    assert "FABER_RAY_SETUP_IMAGES" in names
    for name in sorted(names):
        if name.startswith("FABER_RAY_MN_"):
            continue
        monkeypatch.setenv(name, "1")
    try:
        ExecutorConfig.from_env()
    except ConfigurationError as refused:
        if "unknown environment variable" in refused.reason:
            raise


# API tokens (the HTTP API) ------------------------------------------------------


def test_api_tokens_from_the_environment_as_a_list_or_an_object() -> None:
    listed = ExecutorConfig.from_env({"FABER_RAY_API_TOKENS": '["token-one-1234", "token-two-5678"]'})
    assert listed.api_tokens == ["token-one-1234", "token-two-5678"]
    named = ExecutorConfig.from_env({"FABER_RAY_API_TOKENS": '{"token-one-1234": "alice"}'})
    assert named.api_tokens == {"token-one-1234": "alice"}
    assert ExecutorConfig().api_tokens is None
    assert "token-one-1234" not in repr(named)  # tokens stay out of logs that print the config
    granted = ExecutorConfig.from_env({"FABER_RAY_API_TOKENS": '{"token-one-1234": {"user": "carol", "admin": true}}'})
    assert granted.api_tokens == {"token-one-1234": TokenGrant(user="carol", admin=True)}
    assert granted.without_secrets().api_tokens is None and granted.api_tokens is not None


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ([], "is empty"), (["short"], "at least 8 characters"), ({"token-one-1234": " "}, "user name"),
        ("x" * 9, "list"), ({"token-one-1234": {"user": "carol", "root": True}}, "root"),
        ({"token-one-1234": {"admin": True}}, "user"),
    ],
)
def test_unusable_api_tokens_are_refused(value: object, words: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        ExecutorConfig(api_tokens=value)
    assert caught.value.field == "api_tokens" and words in caught.value.reason
