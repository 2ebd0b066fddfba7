"""The languages faber-ray compiles and runs: which image, which file, which commands.

Plain data, no Ray, no Docker. Each :class:`Language` says where a program's
source goes (``source_file``, in the working directory ``/work``), how to
compile it there (``compile``, or ``None`` for an interpreted language) and how
to run the result (``run``). The commands are chosen for the sandbox: a
read-only root, ``/work`` and ``/tmp`` as small tmpfs mounts, no network, user
10001, one CPU, a pids limit — see the README's "Images and languages".

``compile_limits`` are the defaults for the compile step. They were set from
what each compiler was measured to need through ``SandboxRunner``
(``python -m benchmarks.bench_languages``), with generous headroom: javac,
rustc and the Go toolchain need several times the memory, processes and time
of an ordinary run. ``run_limits`` leave everything to the executor's defaults
unless a language's runtime needs more.

``task(...)`` builds a language's multi-step task (compile, then run, in one
sandbox), and ``task_from_spec`` the same from its JSON form.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from pydantic import ConfigDict

from faber_ray.config import ExecutorConfig, ResolvedLimits
from faber_ray.errors import TaskValidationError
from faber_ray.judging.cases import Checker, Judging, Stop, TestCase
from faber_ray.models import ResourceLimits, Step, Task, Text
from faber_ray.reporting import ReportingModel, printable
from faber_ray.steps import merge_limits

__all__ = [
    "LANGUAGES", "SPEC_KEYS", "Language", "LanguageSpec", "from_json", "helper_limits", "language", "task",
    "task_from_spec",
]

MiB = 1024**2


@dataclass(frozen=True)
class Language:
    """How to compile and run a program of one language in its image.

    The argvs are tuples so the shared table cannot be changed by a caller;
    ``list(lang.run)`` gives a ``Task``'s ``args``. Treat the limits as read-only too.
    """

    name: str
    #: The toolchain's version, as Debian bookworm pins it (upstream patch releases may follow).
    version: str
    image: str
    source_file: str
    compile: tuple[str, ...] | None
    run: tuple[str, ...]
    #: Defaults for the compile step; unset fields take the executor's defaults.
    compile_limits: ResourceLimits = field(default_factory=ResourceLimits)
    #: Defaults for the run step; unset fields take the executor's defaults.
    run_limits: ResourceLimits = field(default_factory=ResourceLimits)
    #: The language's usual name, for people.
    title: str = ""
    #: A program that prints "hello, world", to try an image with.
    example: str = ""

    @property
    def compiled(self) -> bool:
        return self.compile is not None


# The JVM in a small cgroup: one serial GC thread instead of a pool sized for
# the host, no hsperfdata file in /tmp, the class-data-sharing archive for a
# faster start. javac is short-lived, so C1 alone compiles it fastest. A
# program gets half the memory limit as heap (the JVM's default is a quarter)
# and 64 MiB stacks, for deep recursion; only what is touched is charged.
_JVM = ("-XX:+UseSerialGC", "-XX:-UsePerfData", "-Xshare:auto")

_LANGUAGES = (
    Language(
        "python", "3.11", "faber-ray/python:3", "main.py", None, ("python3", "main.py"), title="Python",
        example='print("hello, world")\n',
    ),
    Language(
        "c", "12.2", "faber-ray/gcc:12", "main.c",
        ("gcc", "-O2", "-std=c17", "-o", "main", "main.c", "-lm"), ("./main",),
        compile_limits=ResourceLimits(timeout=30, cpu_time=30, memory=512 * MiB, max_processes=64),
        title="C", example='#include <stdio.h>\n\nint main(void) {\n    puts("hello, world");\n    return 0;\n}\n',
    ),
    Language(
        "cpp", "12.2", "faber-ray/gcc:12", "main.cpp",
        ("g++", "-O2", "-std=c++17", "-o", "main", "main.cpp"), ("./main",),
        compile_limits=ResourceLimits(timeout=60, cpu_time=60, memory=1024 * MiB, max_processes=64),
        title="C++",
        example='#include <iostream>\n\nint main() {\n    std::cout << "hello, world" << std::endl;\n}\n',
    ),
    Language(
        "java", "17", "faber-ray/java:17", "Main.java",
        ("javac", *(f"-J{flag}" for flag in _JVM), "-J-XX:TieredStopAtLevel=1", "Main.java"),
        ("java", *_JVM, "-XX:MaxRAMPercentage=50", "-Xss64m", "-cp", ".", "Main"),
        compile_limits=ResourceLimits(timeout=60, cpu_time=60, memory=1024 * MiB, max_processes=128),
        title="Java",
        example=(
            "public class Main {\n    public static void main(String[] args) {\n"
            '        System.out.println("hello, world");\n    }\n}\n'
        ),
    ),
    Language(
        "javascript", "18", "faber-ray/node:18", "main.js", None, ("node", "main.js"), title="JavaScript (Node.js)",
        example='console.log("hello, world");\n',
    ),
    Language(
        "go", "1.19", "faber-ray/go:1.19", "main.go",
        ("go", "build", "-o", "main", "main.go"), ("./main",),
        compile_limits=ResourceLimits(timeout=60, cpu_time=60, memory=1024 * MiB, max_processes=256),
        title="Go", example='package main\n\nimport "fmt"\n\nfunc main() {\n\tfmt.Println("hello, world")\n}\n',
    ),
    Language(
        "rust", "1.63", "faber-ray/rust:1.63", "main.rs",
        ("rustc", "--edition=2021", "-O", "-o", "main", "main.rs"), ("./main",),
        compile_limits=ResourceLimits(timeout=60, cpu_time=60, memory=1024 * MiB, max_processes=128),
        title="Rust", example='fn main() {\n    println!("hello, world");\n}\n',
    ),
    Language(
        "bash", "5.2", "faber-ray/python:3", "main.sh", None, ("bash", "main.sh"), title="Bash",
        example='echo "hello, world"\n',
    ),
)

#: Every language, by short name.
LANGUAGES: Mapping[str, Language] = MappingProxyType({lang.name: lang for lang in _LANGUAGES})


def language(name: str) -> Language:
    """The language called ``name``; refuses an unknown one, listing those it knows."""
    try:
        return LANGUAGES[name]
    except KeyError:
        raise TaskValidationError(
            f"unknown language {name!r}; faber-ray knows {', '.join(sorted(LANGUAGES))}", field="language"
        ) from None


def helper_limits(checker: Checker, config: ExecutorConfig) -> tuple[ResolvedLimits | None, ResolvedLimits]:
    """The limits of a custom checker's (or an interactor's) sandbox: its compile's (None for an
    interpreted language) and its run's. One place for both, so that admission reserves exactly
    what that sandbox is given."""
    lang = language(checker.language)
    run = config.resolve_limits(merge_limits(lang.run_limits, checker.limits))
    if lang.compile is None:
        return None, run
    return config.resolve_limits(merge_limits(lang.compile_limits, checker.limits)), run


_language = language  # task() takes a parameter of that name, as its contract says


def task(
    language: str,
    source: str | bytes,
    *,
    stdin: str | bytes | None = None,
    inputs: Sequence[str | bytes] | None = None,
    files: Mapping[str, str | bytes] | None = None,
    limits: ResourceLimits | None = None,
    compile_limits: ResourceLimits | None = None,
    collect: list[str] | None = None,
    tests: Sequence[TestCase] | None = None,
    checker: str | Checker = "lines",
    stop: Stop = "never",
    interactor: Checker | None = None,
) -> Task:
    """A task that compiles ``source`` (if the language needs it) and runs it in one sandbox.

    The compile step gets ``compile_limits`` over the language's defaults; a failed
    compile stops the task. Then one run step with ``stdin``, or, with ``inputs``,
    one run step per input, each with ``continue_on_failure=True``: one compiled
    program run against many inputs, every one run whatever the others did.

    With ``tests``, the program is *judged*: one run step that runs once per test,
    each from the workspace the compile left, its output judged by ``checker``
    (see :mod:`faber_ray.judging` and the README's "Judging").
    """
    lang = _language(language)
    if inputs is not None and stdin is not None:
        raise TaskValidationError("give stdin or inputs, not both", field="inputs")
    if tests is not None:
        return _judged(lang, source, tests, checker, stop, interactor, stdin=stdin, inputs=inputs, files=files,
                       limits=limits, compile_limits=compile_limits, collect=collect)
    if inputs is not None and not inputs:  # no run at all: a task of no steps, or of a compile alone
        raise TaskValidationError("inputs is empty; give at least one input, or leave inputs out", field="inputs")
    run_limits = merge_limits(lang.run_limits, limits)
    steps: list[Step] = []
    if lang.compile is not None:
        compiling = merge_limits(lang.compile_limits, compile_limits)
        steps.append(Step(command=lang.compile[0], args=list(lang.compile[1:]), limits=compiling))
    command, args = lang.run[0], list(lang.run[1:])
    if inputs is None:
        steps.append(Step(command=command, args=args, limits=run_limits, stdin=stdin))
    else:
        steps += [
            Step(command=command, args=args, limits=run_limits, stdin=given, continue_on_failure=True)
            for given in inputs
        ]
    return Task(
        steps=steps, files={**(files or {}), lang.source_file: source}, image=lang.image, collect=collect,
    )


def _compile_step(lang: Language, compile_limits: ResourceLimits | None) -> list[Step]:
    if lang.compile is None:
        return []
    limits = merge_limits(lang.compile_limits, compile_limits)
    return [Step(command=lang.compile[0], args=list(lang.compile[1:]), limits=limits)]


def _judged(
    lang: Language, source: str | bytes, tests: Sequence[TestCase], checker: str | Checker, stop: Stop,
    interactor: Checker | None, *, stdin: str | bytes | None, inputs: Sequence[str | bytes] | None,
    files: Mapping[str, str | bytes] | None, limits: ResourceLimits | None, compile_limits: ResourceLimits | None,
    collect: list[str] | None,
) -> Task:
    """The judged form of :func:`task`: the compile, then the run step the tests run through."""
    from faber_ray.judging.rules import check_judging  # it names languages: imported when first needed

    for name, given in (("inputs", inputs), ("stdin", stdin), ("collect", collect)):
        if given is not None:
            raise TaskValidationError(f"give tests or {name}, not both", field=name)
    judging = Judging(tests=list(tests), checker=checker, stop=stop, interactor=interactor)
    check_judging(judging)
    run = Step(command=lang.run[0], args=list(lang.run[1:]), limits=merge_limits(lang.run_limits, limits))
    return Task(
        steps=[*_compile_step(lang, compile_limits), run], files={**(files or {}), lang.source_file: source},
        image=lang.image, judging=judging,
    )


class LanguageSpec(ReportingModel):
    """The language form as JSON gives it, typed, so that a wrong type anywhere is refused by its field's path
    (``limits.timeout``, ``inputs.2``, ``files.a.txt``) as it is for a plain task."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    language: Text
    source: Text | bytes
    stdin: Text | bytes | None = None
    inputs: list[Text | bytes] | None = None
    files: dict[Text, Text | bytes] | None = None
    limits: ResourceLimits | None = None
    compile_limits: ResourceLimits | None = None
    collect: list[Text] | None = None
    tests: list[TestCase] | None = None
    checker: Text | Checker = "lines"
    stop: Stop = "never"
    interactor: Checker | None = None


#: The keys of a language task in JSON (a `faber-ray batch` line, an HTTP request).
SPEC_KEYS = frozenset(LanguageSpec.model_fields)


def task_from_spec(spec: Mapping[str, Any]) -> Task:
    """``{"language": "cpp", "source": "...", "inputs": [...]}`` as a Task; unknown keys are refused."""
    unknown = sorted((key for key in spec if key not in SPEC_KEYS), key=str)
    if unknown:
        raise TaskValidationError(
            f"a language task takes {', '.join(sorted(SPEC_KEYS))}", field=printable(str(unknown[0]))
        )
    parsed = LanguageSpec.model_validate(dict(spec))
    return task(
        parsed.language, parsed.source, stdin=parsed.stdin, inputs=parsed.inputs, files=parsed.files,
        limits=parsed.limits, compile_limits=parsed.compile_limits, collect=parsed.collect,
        tests=parsed.tests, checker=parsed.checker, stop=parsed.stop, interactor=parsed.interactor,
    )


def from_json(data: Any) -> Any:
    """A task as JSON gives it (a `faber-ray batch` line, an HTTP body): the language form becomes a
    Task; anything else is left for validation to read (and refuse) as a plain task."""
    if isinstance(data, Mapping) and "language" in data:
        return task_from_spec(data)
    return data
