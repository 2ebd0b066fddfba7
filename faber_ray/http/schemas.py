"""The JSON Schemas of the task routes' request bodies, as ``/openapi.json`` and ``/docs`` show them.

The routes that take tasks read their bodies themselves, off the event loop
(:mod:`faber_ray.http.bodies`), so FastAPI sees no body parameter and would
document none. The models here exist only for the schema; they never parse a
request (the translation and ``validate_batch`` do, and say exactly what is
wrong). Each route passes :func:`request_body` as its ``openapi_extra``, and
:func:`install` adds the models' definitions to the document's components.

- ``POST /v1/tasks``: a :class:`~faber_ray.models.Task`, the language form
  (:class:`LanguageTask`, whose keys are exactly
  :data:`faber_ray.languages.SPEC_KEYS`), or ``{"tasks": [...]}`` of those;
- ``POST /judge0/submissions``: a :class:`Judge0Submission`, the fields
  :mod:`faber_ray.http.judge0.requests` reads (Judge0 ignores other keys, and so
  does faber-ray); ``/submissions/batch``: ``{"submissions": [...]}``, 1 to 20.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field, JsonValue, TypeAdapter

from faber_ray.http.judge0.languages import JUDGE0_LANGUAGES
from faber_ray.http.judge0.requests import MAX_OPTIONS_LENGTH
from faber_ray.languages import LANGUAGES
from faber_ray.judging import Checker, TestCase
from faber_ray.models import ResourceLimits, Task

__all__ = [
    "JUDGE0_EXAMPLES", "NATIVE_EXAMPLES", "Judge0Batch", "Judge0Submission", "LanguageTask", "NativeBody", "TaskBatch",
    "install", "request_body",
]

_REF = "#/components/schemas/{model}"
_DEFINITIONS: dict[str, dict[str, Any]] = {}
_LANGUAGE_NAMES: list[JsonValue] = [*sorted(LANGUAGES)]
_JUDGE0_IDS: list[JsonValue] = [*JUDGE0_LANGUAGES]


class LanguageTask(BaseModel):
    """A program in a language faber-ray knows: compiled if it needs it, then run once per input."""

    model_config = ConfigDict(extra="forbid")

    language: str = Field(json_schema_extra={"enum": _LANGUAGE_NAMES}, description="GET /v1/languages lists them.")
    source: str = Field(description="The program's text.")
    stdin: str | None = Field(default=None, description="The run's stdin (give stdin or inputs, not both).")
    inputs: list[str] | None = Field(default=None, description="One run step per input, each with it as stdin.")
    files: dict[str, str] | None = Field(default=None, description="More files beside the source, by relative path.")
    limits: ResourceLimits | None = Field(default=None, description="Limits of each run step.")
    compile_limits: ResourceLimits | None = Field(default=None, description="Limits of the compile step.")
    collect: list[str] | None = Field(default=None, description="Glob patterns of files to return.")
    tests: list[TestCase] | None = Field(
        default=None, description="Tests to judge the program on (not with inputs); see the README's Judging."
    )
    checker: str | Checker | None = Field(
        default=None, description='A built-in checker ("lines", "exact", "tokens", "float:EPS", "unordered-lines") '
        "or {language, source, limits}.",
    )
    stop: Literal["never", "first_failure", "group"] | None = Field(default=None, description="When to stop judging.")
    interactor: Checker | None = Field(default=None, description="A program that talks with the judged one.")


class TaskBatch(BaseModel):
    """Several tasks, refused whole if one is bad; the answer keeps their order."""

    model_config = ConfigDict(extra="forbid")

    tasks: list[Task | LanguageTask] = Field(min_length=1)


#: What ``POST /v1/tasks`` takes.
NativeBody = Task | LanguageTask | TaskBatch


def _text(description: str) -> Any:
    return Field(default=None, description=description)


class Judge0Submission(BaseModel):
    """A Judge0 CE 1.13.1 submission. Text fields are base64 when the query says ``base64_encoded=true``;
    limits are Judge0's units (seconds, KB). Unset limits take faber-ray's defaults (GET /config_info)."""

    model_config = ConfigDict(extra="allow")

    source_code: str = Field(min_length=1)
    language_id: int = Field(json_schema_extra={"enum": _JUDGE0_IDS}, description="GET /languages.")
    stdin: str | None = _text("The program's stdin.")
    expected_output: str | None = _text("Accepted if stdout matches it (trailing whitespace aside), else Wrong Answer.")
    compiler_options: str | None = Field(default=None, max_length=MAX_OPTIONS_LENGTH,
                                         description="Compiled languages only; split as a shell would.")
    command_line_arguments: str | None = Field(default=None, max_length=MAX_OPTIONS_LENGTH,
                                               description="Split as a shell would.")
    cpu_time_limit: float | None = Field(default=None, gt=0, description="Seconds.")
    cpu_extra_time: float | None = Field(default=None, ge=0, description="Accepted and ignored.")
    wall_time_limit: float | None = Field(default=None, gt=0, description="Seconds.")
    memory_limit: float | None = Field(default=None, gt=0, description="KB.")
    stack_limit: int | None = Field(default=None, gt=0, description="Accepted and ignored.")
    max_processes_and_or_threads: int | None = Field(default=None, gt=0)
    enable_per_process_and_thread_time_limit: bool | None = _text("Only false.")
    enable_per_process_and_thread_memory_limit: bool | None = _text("Only false.")
    max_file_size: int | None = Field(default=None, gt=0, description="KB.")
    redirect_stderr_to_stdout: bool | None = None
    enable_network: bool | None = _text("Only if the executor's config allows network.")
    number_of_runs: int | None = Field(default=None, description="Only 1.")
    callback_url: str | None = _text("Only null: poll GET /submissions/{token}.")
    additional_files: str | None = _text("A base64 zip, unpacked beside the source file.")


class Judge0Batch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    submissions: list[Judge0Submission] = Field(min_length=1, max_length=20)


#: Examples the docs offer for each body, by name.
NATIVE_EXAMPLES: dict[str, Any] = {
    "command": {"summary": "A command", "value": {"command": "echo", "args": ["hello"]}},
    "language": {"summary": "The language form", "value": {
        "language": "python", "source": "print(int(input()) * 2)", "inputs": ["2\n", "5\n"]}},
    "steps": {"summary": "Steps in one sandbox", "value": {
        "files": {"main.c": "int main(void) { return 0; }\n"},
        "steps": [{"command": "gcc", "args": ["-o", "main", "main.c"]}, {"command": "./main"}],
        "image": "faber-ray/gcc:12"}},
    "batch": {"summary": "A batch", "value": {"tasks": [{"command": "echo", "args": ["one"]},
                                                        {"command": "echo", "args": ["two"]}]}},
}
JUDGE0_EXAMPLES: dict[str, Any] = {
    "python": {"summary": "Python, judged against an expected output", "value": {
        "source_code": "print(input())", "language_id": 71, "stdin": "hi", "expected_output": "hi"}},
}


def request_body(annotation: Any, description: str, examples: dict[str, Any] | None = None) -> dict[str, Any]:
    """An ``openapi_extra`` that documents a required JSON body of type ``annotation``."""
    schema = TypeAdapter(annotation).json_schema(ref_template=_REF)
    for name, definition in schema.pop("$defs", {}).items():
        if _DEFINITIONS.setdefault(name, definition) != definition:
            raise ValueError(f"two different schemas are named {name}")
    content: dict[str, Any] = {"schema": schema}
    if examples:
        content["examples"] = examples
    return {"requestBody": {"required": True, "description": description, "content": {"application/json": content}}}


def install(app: FastAPI) -> None:
    """Make ``app.openapi()`` hold the definitions that the request bodies refer to."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()  # FastAPI's, which it keeps as app.openapi_schema
            components = document.setdefault("components", {}).setdefault("schemas", {})
            for name, definition in _DEFINITIONS.items():
                if components.setdefault(name, definition) != definition:
                    raise ValueError(f"the app's schema {name} differs from the request bodies' one")
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
