"""Every language compiles and runs in its image, end to end, through ``faber_ray.languages.task``
(a compile step, then run steps, in one sandbox), in both sandbox modes.

The images are built if missing (``scripts/test`` builds them beforehand).
"""

from __future__ import annotations

import re
from collections.abc import Callable

import docker
import pytest

from faber_ray import ResourceLimits, Task, TaskResult, TaskStatus, languages
from faber_ray.config import DEFAULT_IMAGE
from faber_ray.languages import LANGUAGES, Language
from faber_ray.images.image import ensure_images
from faber_ray.sandbox.runner import SandboxRunner

pytestmark = pytest.mark.usefixtures("no_leftover_sandboxes")

ALL = sorted(LANGUAGES)

#: Source that must not compile (or, interpreted, not parse), and what the toolchain says.
BROKEN = {
    "python": ('print("never"\n', "SyntaxError"),
    "c": ("int main(void) { return undeclared; }\n", "undeclared (first use in this function)"),
    "cpp": ("int main() { return undeclared; }\n", "was not declared in this scope"),
    "java": ("public class Main { public static void main(String[] a) { int x = ; } }\n", "error: illegal start"),
    "javascript": ('console.log("never";\n', "SyntaxError"),
    "go": ('package main\n\nfunc main() {\n\tx := \n}\n', "syntax error"),
    "rust": ("fn main() { let x: u32 = \"text\"; }\n", "error[E0308]: mismatched types"),
    # bash reads a script command by command; a group is parsed whole before it runs.
    "bash": ("{\n    echo never\n    if then fi\n}\n", "syntax error"),
}

#: Source that builds, then fails while running: (source, exit code, what stderr says).
FAILING = {
    "python": ('raise RuntimeError("boom")\n', 1, "RuntimeError: boom"),
    "c": ('#include <stdio.h>\n#include <stdlib.h>\nint main(void) { fputs("boom\\n", stderr); abort(); }\n',
          134, "boom"),
    "cpp": ('#include <stdexcept>\nint main() { throw std::runtime_error("boom"); }\n', 134, "what():  boom"),
    "java": ('public class Main { public static void main(String[] a) { throw new IllegalStateException("boom"); } }\n',
             1, "java.lang.IllegalStateException: boom"),
    "javascript": ('throw new Error("boom");\n', 1, "Error: boom"),
    "go": ('package main\n\nfunc main() {\n\tpanic("boom")\n}\n', 2, "panic: boom"),
    "rust": ('fn main() {\n    panic!("boom");\n}\n', 101, "panicked at 'boom'"),
    "bash": ("set -e\nno_such_command_here\necho never\n", 127, "no_such_command_here: command not found"),
}

#: The toolchain's own report of its version, and where Language.version must appear in it.
VERSIONS = {
    "python": (["python3", "--version"], r"Python {}\."),
    "c": (["gcc", "--version"], r"\) {}\.\d"),
    "cpp": (["g++", "--version"], r"\) {}\.\d"),
    "java": (["java", "-version"], r'version "{}[."]'),
    "javascript": (["node", "--version"], r"^v{}\."),
    "go": (["go", "version"], r"go{}[. ]"),
    "rust": (["rustc", "--version"], r"^rustc {}\.\d"),
    "bash": (["bash", "--version"], r"version {}\.\d"),
}


@pytest.fixture(scope="module")
def lang_runner(make_runner: Callable[..., SandboxRunner], docker_client: docker.DockerClient) -> SandboxRunner:
    ensure_images(docker_client, sorted({lang.image for lang in LANGUAGES.values()}))
    return make_runner()


def build_and_run(
    runner: SandboxRunner, lang: Language, source: str, limits: ResourceLimits | None = None,
    inputs: list[str] | None = None,
) -> TaskResult:
    """The language's task: its compile step (if any), then its run step(s)."""
    return runner.run(languages.task(lang.name, source, limits=limits, inputs=inputs))


def test_every_language_is_covered() -> None:
    assert set(BROKEN) == set(FAILING) == set(VERSIONS) == set(LANGUAGES)


@pytest.mark.parametrize("name", ALL)
def test_hello_world(lang_runner: SandboxRunner, name: str) -> None:
    result = build_and_run(lang_runner, LANGUAGES[name], LANGUAGES[name].example)
    assert (result.status, result.exit_code, result.stdout) == (TaskStatus.SUCCESS, 0, "hello, world\n"), result
    assert result.image == LANGUAGES[name].image


@pytest.mark.parametrize("name", ALL)
def test_hello_world_fits_the_executors_default_limits(lang_runner: SandboxRunner, name: str) -> None:
    """What a run step gets by default (512 MiB, 64 processes, 30 s) is enough for the runtime itself."""
    result = build_and_run(lang_runner, LANGUAGES[name], LANGUAGES[name].example, limits=ResourceLimits())
    assert (result.status, result.stdout) == (TaskStatus.SUCCESS, "hello, world\n"), result
    assert result.resource_limits_exceeded == []


@pytest.mark.parametrize("name", ALL)
def test_a_compile_error_fails_with_the_compilers_message(lang_runner: SandboxRunner, name: str) -> None:
    """Compiled: FAILURE at step 0 with the compiler's message there, and no run step. Interpreted:
    the syntax error is the run's own."""
    source, message = BROKEN[name]
    result = build_and_run(lang_runner, LANGUAGES[name], source)
    assert result.status is TaskStatus.FAILURE, result
    first = (result.steps or [])[0]
    assert first.status is TaskStatus.FAILURE and first.exit_code not in (None, 0)
    assert message in first.stderr
    assert len(result.steps or []) == 1  # nothing ran after a failed compile (or the one run failed)
    assert "never" not in result.stdout


ECHO_LINE = {
    "python": "import sys\nline = sys.stdin.readline().strip()\nif line == 'bad':\n    sys.exit(3)\nprint(line.upper())\n",
    "c": '#include <stdio.h>\n#include <ctype.h>\n#include <string.h>\nint main(void) { char s[64] = {0};'
         ' if (scanf("%63s", s) != 1 || !strcmp(s, "bad")) return 3; for (char *p = s; *p; p++) *p = toupper(*p);'
         ' puts(s); return 0; }\n',
    "cpp": '#include <iostream>\n#include <string>\n#include <cctype>\nint main() { std::string s; std::cin >> s;'
           ' if (s == "bad") return 3; for (auto &c : s) c = std::toupper(c); std::cout << s << "\\n"; }\n',
    "java": 'import java.util.Scanner;\npublic class Main { public static void main(String[] a) {'
            ' String s = new Scanner(System.in).next(); if (s.equals("bad")) System.exit(3);'
            ' System.out.println(s.toUpperCase()); } }\n',
    "javascript": 'const s = require("fs").readFileSync(0, "utf8").trim();\nif (s === "bad") process.exit(3);\n'
                  'console.log(s.toUpperCase());\n',
    "go": 'package main\n\nimport (\n\t"fmt"\n\t"os"\n\t"strings"\n)\n\nfunc main() {\n\tvar s string\n'
          '\tfmt.Scan(&s)\n\tif s == "bad" {\n\t\tos.Exit(3)\n\t}\n\tfmt.Println(strings.ToUpper(s))\n}\n',
    "rust": 'use std::io::Read;\nfn main() { let mut s = String::new(); std::io::stdin().read_to_string(&mut s).unwrap();'
            ' let s = s.trim(); if s == "bad" { std::process::exit(3); } println!("{}", s.to_uppercase()); }\n',
    "bash": 'read -r s\n[ "$s" = bad ] && exit 3\necho "${s^^}"\n',
}


@pytest.mark.parametrize("name", ALL)
def test_one_program_judged_against_three_inputs_runs_them_all(lang_runner: SandboxRunner, name: str) -> None:
    """The first input fails; the other two still run (continue_on_failure), each with its own stdin."""
    result = build_and_run(lang_runner, LANGUAGES[name], ECHO_LINE[name], inputs=["bad\n", "one\n", "two\n"])
    runs = (result.steps or [])[1 if LANGUAGES[name].compile else 0 :]
    assert [(r.status, r.exit_code, r.stdout) for r in runs] == [
        (TaskStatus.FAILURE, 3, ""), (TaskStatus.SUCCESS, 0, "ONE\n"), (TaskStatus.SUCCESS, 0, "TWO\n"),
    ], result
    assert result.status is TaskStatus.FAILURE  # the first step that did not succeed
    assert result.stdout == "TWO\n"  # the last step's


@pytest.mark.parametrize("name", ALL)
def test_a_runtime_error_fails_with_the_programs_exit_and_message(lang_runner: SandboxRunner, name: str) -> None:
    source, exit_code, message = FAILING[name]
    result = build_and_run(lang_runner, LANGUAGES[name], source)
    assert (result.status, result.exit_code) == (TaskStatus.FAILURE, exit_code), result
    assert message in result.stderr
    assert "never" not in result.stdout


@pytest.mark.parametrize("name", ALL)
def test_the_toolchain_is_the_version_the_table_says(lang_runner: SandboxRunner, name: str) -> None:
    argv, pattern = VERSIONS[name]
    result = lang_runner.run(Task(command=argv[0], args=argv[1:], image=LANGUAGES[name].image))
    assert result.status is TaskStatus.SUCCESS, result
    report = result.stdout + result.stderr
    assert re.search(pattern.format(re.escape(LANGUAGES[name].version)), report, re.MULTILINE), report


def test_go_builds_with_a_read_only_root_and_no_network(lang_runner: SandboxRunner) -> None:
    """The standard library's cgo packages (net, os/user) rebuild pure-Go into /tmp."""
    source = (
        'package main\n\nimport (\n\t"fmt"\n\t"net/http"\n\t"os/user"\n)\n\n'
        "func main() {\n\t_, err := user.Current()\n\tfmt.Println(http.StatusText(418), err == nil)\n}\n"
    )
    result = build_and_run(lang_runner, LANGUAGES["go"], source)
    assert (result.status, result.stdout) == (TaskStatus.SUCCESS, "I'm a teapot true\n"), result


def test_a_go_module_that_needs_a_download_fails_at_once(lang_runner: SandboxRunner) -> None:
    """No network: GOPROXY=off refuses the lookup instead of waiting on DNS."""
    source = 'package main\n\nimport "example.com/nowhere"\n\nfunc main() { nowhere.Go() }\n'
    task = Task(
        command="sh", args=["-c", "go mod init example.com/m 2>/dev/null && go mod tidy"],
        files={"main.go": source}, image=LANGUAGES["go"].image, limits=LANGUAGES["go"].compile_limits,
    )
    result = lang_runner.run(task)
    assert result.status is TaskStatus.FAILURE, result
    assert "GOPROXY=off" in result.stderr


def test_pytest_runs_in_the_default_image(lang_runner: SandboxRunner) -> None:
    tests = "def test_passes():\n    assert 1 + 1 == 2\n\n\ndef test_fails():\n    assert 1 + 1 == 3\n"
    task = Task(command="python3", args=["-m", "pytest", "-q", "test_sample.py"], files={"test_sample.py": tests})
    result = lang_runner.run(task)
    assert result.image == DEFAULT_IMAGE
    assert (result.status, result.exit_code) == (TaskStatus.FAILURE, 1), result
    assert "1 failed, 1 passed" in result.stdout
    assert "assert (1 + 1) == 3" in result.stdout


def test_pytest_command_is_on_the_path(lang_runner: SandboxRunner) -> None:
    result = lang_runner.run(Task(command="pytest", args=["--version"]))
    assert result.status is TaskStatus.SUCCESS, result
    assert "pytest 7." in result.stdout + result.stderr


@pytest.fixture(scope="module")
def gvisor_runner(runsc: None, make_runner: Callable[..., SandboxRunner]) -> SandboxRunner:
    return make_runner(runtime="runsc")


@pytest.mark.parametrize("name", ALL)
def test_hello_world_under_gvisor(gvisor_runner: SandboxRunner, name: str) -> None:
    """Under gVisor the process cap is RLIMIT_NPROC and the toolchains see another kernel; they still work."""
    result = build_and_run(gvisor_runner, LANGUAGES[name], LANGUAGES[name].example)
    assert (result.status, result.stdout) == (TaskStatus.SUCCESS, "hello, world\n"), result
