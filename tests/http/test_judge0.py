"""The Judge0 translation without Docker, Ray or FastAPI: bodies to tasks, results to Judge0 JSON.

The official SDK (judge0 0.0.8) is the referee: its ``Config`` and
``Submission`` models are built from what we answer, and its ``Client`` talks
to a fake server (an httpx MockTransport) made of nothing but these functions.
"""

from __future__ import annotations

import base64
import io
import json
import re
import stat
import types
import zipfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import judge0
import judge0.clients
import pytest
from judge0.base_types import Config, Language as SdkLanguage, LanguageAlias
from judge0.data import LANGUAGE_TO_LANGUAGE_ID

from faber_ray import ExecutorConfig, ResourceLimitError, SecurityPolicyError, TaskValidationError
from faber_ray.errors import ExecutorError
from faber_ray.http import judge0 as j0
from faber_ray.languages import LANGUAGES
from faber_ray.models import ResourceUsage, StepResult, Task, TaskResult, TaskStatus

CONFIG = ExecutorConfig()
README = Path(__file__).resolve().parents[2] / "README.md"
S = TaskStatus


def b64(text: str | bytes) -> str:
    return base64.b64encode(text.encode() if isinstance(text, str) else text).decode()


def unb64(text: str) -> str:
    return base64.b64decode(text).decode()


def parse(body: dict[str, Any], **options: Any) -> tuple[Task, j0.Submission]:
    return j0.parse_submission(body, options.pop("config", CONFIG), base64_encoded=options.pop("encoded", False),
                               **options)


def refusal(body: Any, **options: Any) -> ExecutorError:
    with pytest.raises(ExecutorError) as caught:
        parse(body, **options)
    return caught.value


def zipped(members: dict[str, bytes], *, link: str | None = None) -> str:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
        if link is not None:
            info = zipfile.ZipInfo(link)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, "/etc/passwd")
    return b64(buffer.getvalue())


# Languages, statuses, about, config_info ------------------------------------------------


def test_the_sdk_aliases_under_1_13_1_resolve_to_languages_we_list() -> None:
    table = LANGUAGE_TO_LANGUAGE_ID[j0.about()["version"]]
    listed = {entry["id"]: entry["name"] for entry in j0.languages()}
    expected = {
        LanguageAlias.PYTHON: 71, LanguageAlias.PYTHON3: 71, LanguageAlias.C: 50, LanguageAlias.C_GCC: 50,
        LanguageAlias.JAVA: 62, LanguageAlias.JAVASCRIPT: 63, LanguageAlias.GO: 60, LanguageAlias.RUST: 73,
        LanguageAlias.BASH: 46, LanguageAlias.CPP: 52, LanguageAlias.CPP_GCC: 52,
    }
    for alias, language_id in expected.items():
        assert table[alias] == language_id
        assert language_id in listed, alias
    assert set(listed) == {46, 50, 52, 54, 60, 62, 63, 71, 73}
    assert listed[52] == listed[54] == "C++ (GCC 12.2.0)"
    assert [SdkLanguage(**entry).id for entry in j0.languages()] == sorted(listed)


@pytest.mark.parametrize(("language_id", "name", "key"), [
    (71, "Python (3.11.2)", "python"), (50, "C (GCC 12.2.0)", "c"), (54, "C++ (GCC 12.2.0)", "cpp"),
    (62, "Java (OpenJDK 17)", "java"), (63, "JavaScript (Node.js 18)", "javascript"), (60, "Go (1.19.8)", "go"),
    (73, "Rust (1.63.0)", "rust"), (46, "Bash (5.2.15)", "bash"),
])
def test_each_language_is_named_with_the_version_faber_ray_states(language_id: int, name: str, key: str) -> None:
    entry = j0.language(language_id)
    lang = LANGUAGES[key]
    assert entry["name"] == name and entry["source_file"] == lang.source_file
    version = re.search(r"([\d.]+)\)$", name)
    assert version is not None
    assert version.group(1).startswith(lang.version)  # the language table's major.minor
    assert version.group(1) in README.read_text()  # and the README's image table states it: not invented
    assert (entry["compile_cmd"] is None) == (lang.compile is None)
    SdkLanguage(**entry)


def test_statuses_are_judge0s_fourteen() -> None:
    listed = j0.statuses()
    assert [entry["id"] for entry in listed] == list(range(1, 15))
    assert listed[3] == {"id": 4, "description": "Wrong Answer"}
    assert [int(status) for status in judge0.Status] == list(range(1, 15))


def test_config_info_has_every_key_of_the_sdk_config_and_real_values() -> None:
    info = j0.config_info(CONFIG)
    assert set(info) == set(Config.model_fields) | {"enable_number_of_runs"}  # faber-ray's one more
    config = Config(**info)
    assert config.memory_limit == 512 * 1024 and config.max_memory_limit == 8 * 1024 * 1024  # KB
    assert config.cpu_time_limit == 30 and config.wall_time_limit == 30
    assert config.max_wall_time_limit == 600 and config.max_cpu_time_limit == 600
    assert config.max_processes_and_or_threads == 64 and config.max_max_processes_and_or_threads == 4096
    assert config.max_file_size == 64 * 1024 and config.max_max_file_size == 4 * 1024 * 1024
    assert config.max_submission_batch_size == j0.MAX_SUBMISSION_BATCH_SIZE == 20
    assert config.max_queue_size == 100 and config.enable_wait_result and not config.enable_callbacks
    assert not config.allow_enable_network
    small = ExecutorConfig(default_memory_limit="64m", queue_size=7, allow_network=True)
    assert Config(**j0.config_info(small)).memory_limit == 64 * 1024
    assert j0.config_info(small)["max_file_size"] == 32 * 1024  # half the memory: the disk a run really gets
    assert j0.config_info(small)["allow_enable_network"] and j0.config_info(small)["max_queue_size"] == 7
    one_ceiling = Config(**j0.config_info(ExecutorConfig(ceilings={"memory": "1g"})))
    assert one_ceiling.max_memory_limit == 1024 * 1024 and one_ceiling.max_wall_time_limit == j0.UNBOUNDED


# Requests -------------------------------------------------------------------------------


def test_a_cpp_submission_compiles_then_runs_with_its_options_and_limits() -> None:
    task, record = parse({
        "source_code": b64("int main() {}"), "language_id": 54, "stdin": b64("1 2\n"),
        "expected_output": b64("3\n"), "compiler_options": "-O0 -DX='a b'", "command_line_arguments": "x 'y z'",
        "cpu_time_limit": 2.5, "wall_time_limit": 5, "memory_limit": 128000, "max_processes_and_or_threads": 8,
        "max_file_size": 1024, "unknown_field": {"ignored": True},
    }, encoded=True)
    compile_step, run_step = task.steps or []
    assert compile_step.argv() == ["g++", "-O2", "-std=c++17", "-o", "main", "-O0", "-DX=a b", "main.cpp"]
    assert compile_step.limits == LANGUAGES["cpp"].compile_limits
    assert run_step.argv() == ["./main", "x", "y z"] and run_step.stdin is None
    # The run is a judged test: stdin its input, expected_output its answer, Judge0's comparison ("lines").
    assert task.judging is not None and task.judging.checker == "lines"
    (test,) = task.judging.tests
    assert (test.input, test.expected_output) == (b"1 2\n", b"3\n")
    limits = run_step.limits
    assert limits is not None
    assert (limits.cpu_time, limits.timeout, limits.memory, limits.max_processes, limits.disk) == (
        2.5, 5, 128000 * 1024, 8, 1024 * 1024)
    assert task.files == {"main.cpp": b"int main() {}"} and task.image == "faber-ray/gcc:12" and not task.network
    assert record.compiled and record.language_id == 54 and record.expected_output == b"3\n"
    assert record.request["memory_limit"] == 128000 and record.request["cpu_time_limit"] == "2.5"
    assert record.request["compiler_options"] == "-O0 -DX='a b'"


def test_unset_limits_take_the_executors_defaults_and_are_echoed_in_judge0_units() -> None:
    task, record = parse({"source_code": "print(1)", "language_id": 71})
    (run_step,) = task.steps or []
    assert run_step.argv() == ["python3", "main.py"] and run_step.limits == LANGUAGES["python"].run_limits
    assert not record.compiled
    assert (record.request["memory_limit"], record.request["wall_time_limit"], record.request["max_file_size"]) == (
        512 * 1024, "30.0", 64 * 1024)


def test_go_options_come_before_the_files_as_go_build_needs() -> None:
    task, _ = parse({"source_code": "package main", "language_id": 60, "compiler_options": "-trimpath"})
    assert (task.steps or [])[0].argv() == ["go", "build", "-o", "main", "-trimpath", "main.go"]


def test_redirect_stderr_to_stdout_wraps_the_run_step_only() -> None:
    task, record = parse({"source_code": "x", "language_id": 50, "redirect_stderr_to_stdout": True,
                          "command_line_arguments": "a"})
    compile_step, run_step = task.steps or []
    assert compile_step.command == "gcc"
    assert run_step.argv() == ["sh", "-c", 'exec "$@" 2>&1', "sh", "./main", "a"]
    assert record.request["redirect_stderr_to_stdout"] is True


def test_plain_text_is_taken_as_is_without_base64() -> None:
    task, record = parse({"source_code": "print(input())", "language_id": 71, "stdin": "aGk="})
    assert task.judging is not None and task.judging.tests[0].input == b"aGk="
    assert record.source_code == b"print(input())"


def test_number_of_runs_runs_the_program_that_many_times_and_a_callback_needs_an_allowed_host() -> None:
    allowed = ExecutorConfig(callback_hosts=["127.0.0.1", "hooks.example.com:8443", "*.internal"])
    body = {"source_code": "print(1)", "language_id": 71, "stdin": "x", "number_of_runs": 3}
    task, record = parse({**body, "callback_url": "http://127.0.0.1:9999/done"}, config=allowed)
    assert task.judging is not None and [test.input for test in task.judging.tests] == [b"x"] * 3
    assert record.request["number_of_runs"] == 3 and record.request["callback_url"] == "http://127.0.0.1:9999/done"
    for url in ("https://hooks.example.com:8443/x", "http://a.internal/x", "http://127.0.0.1/"):
        assert parse({**body, "callback_url": url}, config=allowed)[1].request["callback_url"] == url
    for url, words in [("http://hooks.example.com/x", "not one"), ("http://10.0.0.1/", "not one"),
                       ("ftp://127.0.0.1/", "http"), ("http://u:p@127.0.0.1/", "no user"), (5, "string")]:
        error = refusal({**body, "callback_url": url}, config=allowed)
        assert error.field == "callback_url" and words in error.reason, (url, error)
    info = Config(**j0.config_info(allowed))
    assert info.enable_callbacks and info.max_number_of_runs == 10 and info.callbacks_max_tries == 3
    assert j0.config_info(allowed)["enable_number_of_runs"] is True


@pytest.mark.parametrize(("body", "field", "kind"), [
    ({"language_id": 71, "source_code": "!!notbase64"}, "source_code", TaskValidationError),
    ({"language_id": 71, "source_code": b64("x"), "stdin": "%%%"}, "stdin", TaskValidationError),
    ({"language_id": 71, "source_code": b64("x"), "expected_output": "a"}, "expected_output", TaskValidationError),
])
def test_bad_base64_is_refused_naming_its_field(body: dict[str, Any], field: str, kind: type) -> None:
    error = refusal(body, encoded=True)
    assert isinstance(error, kind) and error.field == field and "base64" in error.reason


@pytest.mark.parametrize(("extra", "field", "kind", "words"), [
    ({"language_id": 999}, "language_id", TaskValidationError, "999 doesn't exist"),
    ({"language_id": "71"}, "language_id", TaskValidationError, "integer"),
    ({"language_id": True}, "language_id", TaskValidationError, "integer"),
    ({"language_id": None}, "language_id", TaskValidationError, "blank"),
    ({"source_code": ""}, "source_code", TaskValidationError, "blank"),
    ({"source_code": 5}, "source_code", TaskValidationError, "string"),
    ({"stdin": ["a"]}, "stdin", TaskValidationError, "string"),
    ({"cpu_time_limit": "2"}, "cpu_time_limit", TaskValidationError, "number"),
    ({"cpu_time_limit": True}, "cpu_time_limit", TaskValidationError, "number"),
    ({"wall_time_limit": -1}, "wall_time_limit", TaskValidationError, "greater than zero"),
    ({"wall_time_limit": 601}, "wall_time_limit", ResourceLimitError, "600 s"),
    ({"memory_limit": 0}, "memory_limit", TaskValidationError, "greater than zero"),
    ({"memory_limit": 9 * 1024 * 1024}, "memory_limit", ResourceLimitError, "maximum of 8388608 KB"),
    ({"memory_limit": 2048}, "memory_limit", ResourceLimitError, "6 MiB"),
    ({"max_processes_and_or_threads": 2.5}, "max_processes_and_or_threads", TaskValidationError, "whole"),
    ({"max_processes_and_or_threads": 5000}, "max_processes_and_or_threads", ResourceLimitError, "maximum"),
    ({"max_file_size": 600000}, "max_file_size", ResourceLimitError, "below memory"),
    ({"compiler_options": "-O2"}, "compiler_options", TaskValidationError, "only allowed for compiled"),
    ({"command_line_arguments": "'open"}, "command_line_arguments", TaskValidationError, "quotation"),
    ({"command_line_arguments": "x" * 513}, "command_line_arguments", TaskValidationError, "512"),
    ({"redirect_stderr_to_stdout": "yes"}, "redirect_stderr_to_stdout", TaskValidationError, "true or false"),
    ({"enable_network": True}, "enable_network", SecurityPolicyError, "network"),
    ({"number_of_runs": 11}, "number_of_runs", TaskValidationError, "from 1 to 10"),
    ({"number_of_runs": 0}, "number_of_runs", TaskValidationError, "from 1 to 10"),
    ({"enable_per_process_and_thread_time_limit": True}, "enable_per_process_and_thread_time_limit",
     TaskValidationError, "cannot be enabled"),
    ({"callback_url": "http://x"}, "callback_url", TaskValidationError, "callback_hosts is empty"),
    ({"cpu_extra_time": -1}, "cpu_extra_time", TaskValidationError, "between"),
    ({"stack_limit": 0}, "stack_limit", TaskValidationError, "greater than zero"),
])
def test_bad_values_are_refused_naming_the_judge0_field(
    extra: dict[str, Any], field: str, kind: type, words: str
) -> None:
    error = refusal({"source_code": "print(1)", "language_id": 71, **extra})
    assert type(error) is kind, error
    assert error.field == field and words in error.reason and error.task_index is None


def test_what_faber_ray_ignores_or_takes_at_one_value_is_accepted() -> None:
    _, record = parse({
        "source_code": "x", "language_id": 71, "cpu_extra_time": 1.5, "stack_limit": 64000, "number_of_runs": 1,
        "enable_per_process_and_thread_time_limit": False, "enable_per_process_and_thread_memory_limit": False,
        "callback_url": None, "enable_network": False,
    })
    assert record.request["stack_limit"] == 64000 and record.request["cpu_extra_time"] == "1.5"


def test_network_is_allowed_when_the_config_allows_it() -> None:
    task, _ = parse({"source_code": "x", "language_id": 71, "enable_network": True},
                    config=ExecutorConfig(allow_network=True))
    assert task.network


def test_faber_rays_own_validation_names_the_judge0_field() -> None:
    tight = ExecutorConfig(max_files_bytes=100, max_stdin_bytes=10)
    assert refusal({"source_code": "x" * 200, "language_id": 71}, config=tight).field == "source_code"
    assert refusal({"source_code": "x", "language_id": 71, "stdin": "y" * 11}, config=tight).field == "stdin"
    low_ceiling = ExecutorConfig(ceilings={"memory": "768m"})  # below C++'s compile memory of 1 GiB
    assert refusal({"source_code": "x", "language_id": 54}, config=low_ceiling).field == "language_id"


def test_additional_files_are_unpacked_into_the_tasks_files() -> None:
    archive = zipped({"data/in.txt": b"42\n", "./helper.py": b"X = 1\n", "main.py": b"ignored", "dir/": b""})
    task, record = parse({"source_code": "import helper", "language_id": 71, "additional_files": archive})
    assert task.files == {"data/in.txt": b"42\n", "helper.py": b"X = 1\n", "main.py": b"import helper"}
    assert record.request["additional_files"] == archive
    assert record.nbytes >= len(archive)
    settled = record.settled()  # once the run is over the zip is not kept
    assert settled.request["additional_files"] is None and settled.source_code == record.source_code


def test_an_expected_output_longer_than_stdout_can_be_is_refused() -> None:
    body = {"source_code": "print(1)", "language_id": 71, "expected_output": "x" * 2000}
    error = refusal(body, config=ExecutorConfig(default_max_output=1000))
    assert error.field == "expected_output" and "could never match" in error.reason
    parse({**body, "expected_output": "x" * 1000}, config=ExecutorConfig(default_max_output=1000))


@pytest.mark.parametrize(("archive", "words"), [
    (zipped({"/etc/x": b"a"}), "absolute"),
    (zipped({"a/../../x": b"a"}), "'..'"),
    (zipped({"ok": b"a"}, link="evil"), "symbolic link"),
    (b64(b"PK\x03\x04 not really"), "not a readable zip"),
    ("@@@", "not valid base64"),
    (zipped({f"f{n}": b"" for n in range(1000)}), "over the cap of 999"),
    (zipped({"big": b"x" * 5000}), "max_files_bytes"),
    (zipped({"a": b"1", "./a": b"2"}), "appears twice"),
])
def test_bad_additional_files_are_refused_with_the_reason(archive: str, words: str) -> None:
    error = refusal({"source_code": "x", "language_id": 71, "additional_files": archive},
                    config=ExecutorConfig(max_files_bytes=4096))
    assert isinstance(error, TaskValidationError) and error.field == "additional_files"
    assert words in error.reason, error.reason


def test_a_batch_is_refused_whole_with_the_index_and_answers_judge0s_bodies() -> None:
    good = {"source_code": "x", "language_id": 71}
    parsed = j0.parse_batch({"submissions": [good, good]}, CONFIG, base64_encoded=False)
    assert len(parsed) == 2 and parsed[0][1].token != parsed[1][1].token
    with pytest.raises(ExecutorError) as caught:
        j0.parse_batch({"submissions": [good, {**good, "language_id": 7}]}, CONFIG, base64_encoded=False)
    assert caught.value.task_index == 1 and caught.value.field == "language_id"
    assert j0.error_response(caught.value) == (422, {"language_id": [caught.value.reason], "index": 1})
    assert j0.error_body(refusal({**good, "memory_limit": -1})) == {
        "memory_limit": ["memory_limit must be greater than zero, got -1"]}
    for body, words in [({"submissions": [good] * 21}, "less than or equal to 20"),
                        ({"submissions": []}, "at least one"), ({"nope": 1}, "submissions")]:
        with pytest.raises(TaskValidationError) as caught:
            j0.parse_batch(body, CONFIG, base64_encoded=False)
        status, answer = j0.error_response(caught.value)
        assert status == 400 and words in answer["error"]
    assert j0.parse_tokens("a, b,c") == ["a", "b", "c"]
    with pytest.raises(TaskValidationError):
        j0.parse_tokens(",".join(["t"] * 21))


# Results --------------------------------------------------------------------------------


def step(status: TaskStatus, exit_code: int | None = 0, **fields: Any) -> StepResult:
    return StepResult(status=status, exit_code=exit_code, **fields)


def result(*steps: StepResult, status: TaskStatus | None = None, error: str | None = None) -> TaskResult:
    last = steps[-1] if steps else None
    return TaskResult(
        execution_id="e", status=status or (last.status if last else S.ERROR), error=error,
        exit_code=last.exit_code if last else None, steps=list(steps) or None,
    )


PY = parse({"source_code": "x", "language_id": 71, "expected_output": "3\n"})[1]
CPP = parse({"source_code": "x", "language_id": 54})[1]
OK = step(S.SUCCESS, stdout="", stderr="note: fine\n")


@pytest.mark.parametrize(("record", "finished", "status_id", "message", "signal"), [
    (PY, result(step(S.SUCCESS, stdout="3  \n\n")), 3, None, None),
    (PY, result(step(S.SUCCESS, stdout="4\n")), 4, None, None),
    (CPP, result(OK, step(S.SUCCESS, stdout="anything")), 3, None, None),
    (PY, result(step(S.TIMEOUT, 137)), 5, "Time limit exceeded (wall clock)", 9),
    (PY, result(step(S.CPU_LIMIT_EXCEEDED, 152)), 5, "Time limit exceeded", 24),
    (CPP, result(OK, step(S.FAILURE, 139)), 7, "Caught fatal signal 11", 11),
    (CPP, result(OK, step(S.FAILURE, 153)), 8, "Caught fatal signal 25", 25),
    (CPP, result(OK, step(S.FAILURE, 136)), 9, "Caught fatal signal 8", 8),
    (CPP, result(OK, step(S.FAILURE, 134)), 10, "Caught fatal signal 6", 6),
    (PY, result(step(S.FAILURE, 1)), 11, "Exited with error status 1", None),
    (PY, result(step(S.FAILURE, 137)), 12, "Caught fatal signal 9", 9),
    (PY, result(step(S.MEMORY_LIMIT_EXCEEDED, 137)), 12, "Memory limit exceeded (faber-ray MEMORY_LIMIT_EXCEEDED)", 9),
    (PY, result(step(S.OUTPUT_LIMIT_EXCEEDED, 137, stdout_truncated=True)), 8,
     "Output limit exceeded (faber-ray OUTPUT_LIMIT_EXCEEDED): stdout cut at the limit", 9),
    (PY, result(step(S.ERROR, None, error="engine down")), 13, "Internal error (faber-ray ERROR): engine down", None),
    (PY, result(status=S.ERROR, error="image missing"), 13, "Internal error (faber-ray ERROR): image missing", None),
    (PY, result(status=S.CANCELLED, error="cancelled by the user"), 13,
     "Cancelled (faber-ray CANCELLED): cancelled by the user", None),
])
def test_the_status_mapping(
    record: j0.Submission, finished: TaskResult, status_id: int, message: str | None, signal: int | None
) -> None:
    found = j0.verdict(record, finished)
    assert (found.status_id, found.message, found.exit_signal) == (status_id, message, signal)


def test_a_failed_compile_is_a_compilation_error_with_its_output() -> None:
    failed = result(step(S.FAILURE, 1, stdout="out\n", stderr="main.cpp:1: error\n"), status=S.FAILURE)
    found = j0.verdict(CPP, failed)
    assert (found.status_id, found.compile_output, found.stdout, found.time, found.memory) == (
        6, "out\nmain.cpp:1: error\n", None, None, None)
    slow = j0.verdict(CPP, result(step(S.TIMEOUT, 137, stderr="partial"), status=S.TIMEOUT))
    assert (slow.status_id, slow.compile_output) == (6, "Compilation time limit exceeded.")
    lost = j0.verdict(CPP, result(step(S.ERROR, None, error="worker lost"), status=S.ERROR))
    assert lost.status_id == 13 and "worker lost" in (lost.message or "")


def test_run_step_outputs_times_and_memory_in_judge0_units() -> None:
    usage = ResourceUsage(cpu_time=0.0123, wall_time=0.5, peak_memory=3 * 1024 * 1024 + 100)
    found = j0.verdict(CPP, result(OK, step(S.SUCCESS, stdout="hi", stderr="", resource_usage=usage)))
    assert (found.stdout, found.stderr, found.compile_output) == ("hi", None, "note: fine\n")
    assert (found.time, found.wall_time, found.memory, found.exit_code) == ("0.012", "0.500", 3072, 0)


@pytest.mark.parametrize(("expected", "stdout", "same"), [
    ("3", "3\n", True), ("3\n", "3", True), ("3", "3 \n", True), ("a\nb", "a \nb\n", True), ("3", "3\r\n", True),
    ("3", "3\t\x00\n\n\n", True), ("", "", True), ("", "\n", True), ("3", " 3", False), ("a\nb", "a\n\nb", False),
    ("3", "3\u00a0", False),  # Ruby's rstrip leaves non-ASCII spaces alone
])
def test_expected_output_is_compared_the_way_judge0_does(expected: str, stdout: str, same: bool) -> None:
    assert j0.outputs_match(expected, stdout) is same


def test_fields_default_all_list_and_unknown() -> None:
    assert j0.parse_fields(None) == ("token", "time", "memory", "stdout", "stderr", "compile_output", "message",
                                     "status")
    assert j0.parse_fields("*") == j0.ALL_FIELDS
    assert j0.parse_fields("status,stdout, token") == ("status", "stdout", "token")
    with pytest.raises(TaskValidationError) as caught:
        j0.parse_fields("stdout,nope,worse")
    assert caught.value.field == "fields" and caught.value.reason == "invalid fields: [nope, worse]"
    assert j0.error_response(caught.value) == (400, {"error": "invalid fields: [nope, worse]"})


def test_a_finished_submission_round_trips_through_the_sdks_model() -> None:
    created = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=timezone.utc)
    _, record = parse({"source_code": b64("print(input())"), "language_id": 71, "stdin": b64("hé"),
                       "expected_output": b64("hé")}, encoded=True, now=created)
    usage = ResourceUsage(cpu_time=0.02, wall_time=0.05, peak_memory=8 * 1024 * 1024)
    done = result(step(S.FAILURE, 1, stdout="hé\n", stderr="Traceback\n", resource_usage=usage))
    answer = j0.submission_json(record, done, finished_at=created, fields=j0.ALL_FIELDS, base64_encoded=True)
    assert list(answer) == list(j0.ALL_FIELDS)
    json.dumps(answer)
    assert unb64(answer["stdout"]) == "hé\n" and unb64(answer["message"]) == "Exited with error status 1"
    assert answer["created_at"] == "2026-01-02T03:04:05.678000Z" and answer["time"] == "0.020"
    model = judge0.Submission(**answer)  # the SDK's own validators: UUID4 token, status, base64 fields
    assert model.stdout == "hé\n" and model.stderr == "Traceback\n" and model.source_code == "print(input())"
    assert model.status == judge0.Status.RUNTIME_ERROR_NZEC and model.memory == 8192 and model.exit_code == 1
    assert model.finished_at == created.replace(tzinfo=None) or model.finished_at == created
    polled = judge0.Submission()
    polled.set_attributes(answer)  # what the SDK does with each poll: fails on a key it does not know
    assert polled.time == 0.02 and polled.created_at == created.replace(tzinfo=None)


def test_a_pending_submission_has_no_results_yet() -> None:
    queued = j0.submission_json(PY, None, fields=j0.ALL_FIELDS)
    assert queued["status"] == {"id": 1, "description": "In Queue"} and queued["finished_at"] is None
    assert all(queued[name] is None for name in ("stdout", "time", "wall_time", "memory", "exit_code"))
    assert queued["expected_output"] == "3\n"  # plain text without base64
    running = j0.submission_json(PY, None, running=True, fields=("status", "token"))
    assert running == {"status": {"id": 2, "description": "Processing"}, "token": PY.token}
    assert not judge0.Submission(**j0.submission_json(PY, None, fields=j0.ALL_FIELDS)).is_done()


# The SDK's Client against a fake server made of these functions ---------------------------


class FakeJudge0:
    """Judge0's routes, as httpx sees them, over this module; a "run" echoes stdin (or fails on a marker)."""

    def __init__(self) -> None:
        self.records: dict[str, tuple[Task, j0.Submission]] = {}

    def run(self, task: Task) -> TaskResult:
        steps = task.steps or []
        given = task.judging.tests[0].input if task.judging is not None else steps[-1].stdin  # the run's stdin
        stdin = (given or b"").decode() if isinstance(given, bytes) else (given or "")
        ran = [step(S.SUCCESS) for _ in steps[:-1]]
        if "fail" in stdin:
            ran.append(step(S.FAILURE, 139))
        else:
            ran.append(step(S.SUCCESS, stdout=stdin))
        return result(*ran)

    def answer(self, token: str, params: httpx.QueryParams) -> dict[str, Any]:
        task, record = self.records[token]
        return j0.submission_json(
            record, self.run(task), finished_at=datetime.now(timezone.utc),
            fields=j0.parse_fields(params.get("fields")), base64_encoded=params.get("base64_encoded") == "true",
        )

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path, params = request.url.path, request.url.params
        encoded = params.get("base64_encoded") == "true"
        try:
            if path == "/languages":
                return httpx.Response(200, json=j0.languages())
            if path == "/config_info":
                return httpx.Response(200, json=j0.config_info(CONFIG))
            if path == "/about":
                return httpx.Response(200, json=j0.about())
            if path == "/submissions" and request.method == "POST":
                task, record = j0.parse_submission(json.loads(request.content), CONFIG, base64_encoded=encoded)
                self.records[record.token] = (task, record)
                return httpx.Response(201, json={"token": record.token})
            if path == "/submissions/batch" and request.method == "POST":
                parsed = j0.parse_batch(json.loads(request.content), CONFIG, base64_encoded=encoded)
                self.records.update({record.token: (task, record) for task, record in parsed})
                return httpx.Response(201, json=[{"token": record.token} for _, record in parsed])
            if path == "/submissions/batch":
                tokens = j0.parse_tokens(params.get("tokens"))
                return httpx.Response(200, json={"submissions": [self.answer(token, params) for token in tokens]})
            if path.startswith("/submissions/"):
                return httpx.Response(200, json=self.answer(path.rsplit("/", 1)[1], params))
        except ExecutorError as error:
            status, body = j0.error_response(error)
            return httpx.Response(status, json=body)
        return httpx.Response(404, json={"error": "not found"})


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> judge0.Client:
    server = FakeJudge0()
    transport = httpx.MockTransport(server)
    fake_httpx = types.SimpleNamespace(Client=lambda **kw: httpx.Client(transport=transport, **kw))
    monkeypatch.setattr(judge0.clients, "httpx", fake_httpx)
    return judge0.Client("http://judge0.test")


def test_the_sdk_client_connects_submits_and_reads_results(client: judge0.Client) -> None:
    assert client.config.max_submission_batch_size == 20 and client.version == "1.13.1"
    one = judge0.Submission(source_code="print(input())", language=LanguageAlias.PYTHON, stdin="hello",
                            expected_output="hello")
    client.create_submission(one)
    client.get_submission(one)
    assert one.status == judge0.Status.ACCEPTED and one.stdout == "hello" and one.time == 0.0
    batch = [
        # (not "fail": the SDK base64-decodes any text that happens to be valid base64)
        judge0.Submission(source_code="int main(){}", language=LanguageAlias.CPP, stdin="fail, please"),
        judge0.Submission(source_code="x", language=LanguageAlias.BASH, stdin="a", expected_output="b"),
    ]
    client.create_submissions(batch)
    client.get_submissions(batch)
    assert [submission.status for submission in batch] == [
        judge0.Status.RUNTIME_ERROR_SIGSEGV, judge0.Status.WRONG_ANSWER]
    assert batch[0].exit_signal == 11 and batch[0].compile_output is None and batch[1].stdout == "a"


def test_the_sdk_sees_a_refusal_as_judge0s_422(client: judge0.Client) -> None:
    refused = judge0.Submission(source_code="x", language=71, memory_limit=-5)
    with pytest.raises(httpx.HTTPStatusError) as caught:
        client.create_submission(refused)
    assert caught.value.response.status_code == 422
    assert caught.value.response.json() == {"memory_limit": ["memory_limit must be greater than zero, got -5.0"]}


def test_a_judged_submission_takes_its_status_from_the_runs_verdicts_and_averages_them() -> None:
    from faber_ray.judging import TestResult, Verdict as TV

    def judged(*tests: TestResult, status: TaskStatus = TaskStatus.SUCCESS) -> TaskResult:
        verdict = next((test.verdict for test in tests if test.verdict is not TV.ACCEPTED), TV.ACCEPTED)
        return TaskResult(execution_id="e", status=status, stdout="3\n", exit_code=tests[-1].exit_code,
                          tests=list(tests), verdict=verdict)

    def run(verdict: TV, time: float, memory: int, exit_code: int = 0) -> TestResult:
        return TestResult(index=0, verdict=verdict, time=time, wall_time=2 * time, memory=memory, exit_code=exit_code)

    found = j0.verdict(PY, judged(run(TV.ACCEPTED, 0.1, 1024 * 1000), run(TV.ACCEPTED, 0.3, 1024 * 3000)))
    assert (found.status_id, found.time, found.wall_time, found.memory, found.stdout) == (3, "0.200", "0.400", 2000,
                                                                                          "3\n")
    assert j0.verdict(PY, judged(run(TV.ACCEPTED, 0.1, 0), run(TV.WRONG_ANSWER, 0.1, 0))).status_id == 4
    slow = j0.verdict(PY, judged(run(TV.TIME_LIMIT_EXCEEDED, 1.0, 0, 137), status=TaskStatus.TIMEOUT))
    assert (slow.status_id, slow.exit_code) == (5, 137)
    crash = j0.verdict(PY, judged(run(TV.RUNTIME_ERROR, 0.1, 0, 139), run(TV.ACCEPTED, 0.1, 0),
                                  status=TaskStatus.FAILURE))
    assert (crash.status_id, crash.exit_code, crash.exit_signal) == (7, 139, 11)
