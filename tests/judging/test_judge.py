"""Judged tasks against real sandboxes, in both modes: verdicts, groups and points, stop, independence, checkers."""

from __future__ import annotations

import time

import pytest

from faber_ray.judging import Checker, TestCase, Verdict
from faber_ray.languages import task
from faber_ray.models import ResourceLimits, TaskStatus
from faber_ray.sandbox.runner import SandboxRunner

pytestmark = pytest.mark.usefixtures("no_leftover_sandboxes")

V = Verdict
AB = "#include <cstdio>\nint main(){long a,b; if(scanf(\"%ld %ld\",&a,&b)!=2) return 1; printf(\"%ld\\n\",a+b);}\n"


def ab(a: int, b: int, answer: int | None = None, **fields: object) -> TestCase:
    return TestCase(input=f"{a} {b}\n", expected_output=f"{a + b if answer is None else answer}\n", **fields)  # type: ignore[arg-type]


def verdicts(result: object) -> list[Verdict]:
    return [test.verdict for test in result.tests or []]  # type: ignore[attr-defined]


def test_a_plus_b_in_cpp_judged_with_lines(runner: SandboxRunner) -> None:
    result = runner.run(task("cpp", AB, tests=[ab(1, 2), ab(2, 2, 5), ab(-3, 3)]))
    assert result.status is TaskStatus.SUCCESS, result
    assert verdicts(result) == [V.ACCEPTED, V.WRONG_ANSWER, V.ACCEPTED]
    assert (result.verdict, result.score, result.max_score) == (V.WRONG_ANSWER, 2.0, 3.0)
    first = result.tests[0]  # type: ignore[index]
    assert (first.index, first.stdout, first.exit_code, first.checker_message) == (0, "3\n", 0, "")
    assert first.wall_time > 0 and first.memory > 0
    assert result.tests[1].checker_message == "line 1 differs"  # type: ignore[index]
    assert [step.status for step in result.steps or []] == [TaskStatus.SUCCESS]  # the compile alone


def test_a_failed_compile_skips_every_test(runner: SandboxRunner) -> None:
    result = runner.run(task("cpp", "int main( {", tests=[ab(1, 2), ab(3, 4)]))
    assert result.verdict is V.COMPILATION_ERROR
    assert verdicts(result) == [V.SKIPPED, V.SKIPPED]
    assert (result.status, result.score, result.max_score) == (TaskStatus.FAILURE, 0.0, 2.0)
    assert "error" in (result.steps or [])[0].stderr


# The Python program: each test's input is a command.
PROGRAM = """
import os, sys, time
line = sys.stdin.read().strip()
kind, _, arg = line.partition(" ")
if kind == "echo": print(arg)
elif kind == "sleep": time.sleep(float(arg)); print("slept")
elif kind == "exit": sys.exit(int(arg))
elif kind == "flood": sys.stdout.write("x" * 100000)
elif kind == "hog": b = bytearray(200 * 1024 * 1024); print(len(b))
"""


def echo(word: str, answer: str | None = None, **fields: object) -> TestCase:
    return TestCase(input=f"echo {word}", expected_output=f"{answer or word}\n", **fields)  # type: ignore[arg-type]


def test_limit_verdicts_come_from_the_runs_status(runner: SandboxRunner) -> None:
    tests = [TestCase(input="sleep 5"), TestCase(input="exit 3"), TestCase(input="flood"), TestCase(input="hog"),
             echo("fine")]
    limits = ResourceLimits(timeout=1, max_output=4000, memory="96m")
    result = runner.run(task("python", PROGRAM, tests=tests, limits=limits))
    assert verdicts(result) == [V.TIME_LIMIT_EXCEEDED, V.RUNTIME_ERROR, V.OUTPUT_LIMIT_EXCEEDED,
                                V.MEMORY_LIMIT_EXCEEDED, V.ACCEPTED]
    assert result.tests[1].exit_code == 3  # type: ignore[index]
    assert result.verdict is V.TIME_LIMIT_EXCEEDED and result.status is TaskStatus.TIMEOUT
    assert len(result.tests[2].stdout) == 1024  # type: ignore[index]


def test_groups_points_and_stop_group(runner: SandboxRunner) -> None:
    tests = [
        echo("a1", group="a", points=2), echo("a2", "nope", group="a", points=2), echo("a3", group="a", points=2),
        echo("b1", group="b", points=3), echo("b2", group="b", points=3),
        echo("c", points=1), echo("d", "no", points=1),
    ]
    never = runner.run(task("python", PROGRAM, tests=tests))
    assert verdicts(never) == [V.ACCEPTED, V.WRONG_ANSWER, V.ACCEPTED, V.ACCEPTED, V.ACCEPTED, V.ACCEPTED,
                               V.WRONG_ANSWER]
    assert [test.points for test in never.tests or []] == [0, 0, 0, 3, 3, 1, 0]
    assert (never.score, never.max_score, never.verdict) == (7.0, 14.0, V.WRONG_ANSWER)
    grouped = runner.run(task("python", PROGRAM, tests=tests, stop="group"))
    assert verdicts(grouped) == [V.ACCEPTED, V.WRONG_ANSWER, V.SKIPPED, V.ACCEPTED, V.ACCEPTED, V.ACCEPTED,
                                 V.WRONG_ANSWER]
    assert grouped.tests[2].wall_time == 0 and grouped.tests[2].stdout == ""  # type: ignore[index]
    assert grouped.score == 7.0


def test_first_failure_ends_the_task_without_running_the_rest(runner: SandboxRunner) -> None:
    tests = [TestCase(input="exit 1"), *[TestCase(input="sleep 1", expected_output="slept\n") for _ in range(5)]]
    started = time.monotonic()
    result = runner.run(task("python", PROGRAM, tests=tests, stop="first_failure"))
    assert time.monotonic() - started < 1.0
    assert verdicts(result) == [V.RUNTIME_ERROR] + [V.SKIPPED] * 5
    assert result.verdict is V.RUNTIME_ERROR


STATEFUL = """
import os, subprocess, sys
seen = sorted(os.listdir(".")) + sorted(os.listdir("/tmp"))
print(" ".join(seen))
open("left.txt", "w").write("x"); open("/tmp/left", "w").write("x")
os.remove("main.py")
subprocess.Popen(["sh", "-c", "sleep 30"], start_new_session=True)
"""


def test_each_test_starts_from_the_workspace_the_compile_left(runner: SandboxRunner) -> None:
    """A test writes files, deletes the program and leaves a process: the next sees none of it."""
    tests = [TestCase(expected_output="data.txt main.py\n") for _ in range(3)]
    result = runner.run(task("python", STATEFUL, tests=tests, files={"data.txt": "d"}))
    assert verdicts(result) == [V.ACCEPTED] * 3, [t.stdout for t in result.tests or []]
    cpp_tamper = AB.replace("int main(){", "#include <unistd.h>\nint main(){ unlink(\"main\"); unlink(\"main.cpp\");")
    result = runner.run(task("cpp", cpp_tamper, tests=[ab(1, 1), ab(2, 2), ab(3, 3)]))
    assert verdicts(result) == [V.ACCEPTED] * 3


def test_float_and_tokens_end_to_end(runner: SandboxRunner) -> None:
    program = "print('0.3333333', ' 1  2 ')"
    close = runner.run(task("python", program, tests=[TestCase(expected_output="0.33333331 1 2")], checker="float:1e-6"))
    assert close.verdict is V.ACCEPTED
    spaced = [TestCase(expected_output="0.3333333 1 2\n")]
    assert runner.run(task("python", program, tests=spaced, checker="exact")).verdict is V.WRONG_ANSWER
    assert runner.run(task("python", program, tests=spaced, checker="tokens")).verdict is V.ACCEPTED


PERMUTATION_CPP = r"""
#include <algorithm>
#include <fstream>
#include <iostream>
#include <vector>
int main(int argc, char** argv) {
    if (argc != 4) return 3;
    std::ifstream out(argv[2]), ans(argv[3]);
    std::vector<long> a, b; long x;
    while (out >> x) a.push_back(x);
    while (ans >> x) b.push_back(x);
    std::sort(a.begin(), a.end()); std::sort(b.begin(), b.end());
    if (a == b) { std::cout << "ok, a permutation\n"; return 0; }
    std::cout << "not a permutation\n"; return 1;
}
"""
PARTIAL_PY = """
import sys
out = open(sys.argv[2]).read().split(); ans = open(sys.argv[3]).read().split()
right = sum(1 for a, b in zip(out, ans) if a == b)
if right == len(ans): sys.exit(0)
print(right / len(ans), f"{right} of {len(ans)} right"); sys.exit(7)
"""
CRASH_CPP = "#include <cstdlib>\nint main() { std::abort(); }\n"
CRASH_PY = "import sys\nraise RuntimeError('the checker broke')\n"


def test_custom_checkers_in_cpp_and_python(runner: SandboxRunner) -> None:
    tests = [TestCase(input="echo 3 1 2", expected_output="1 2 3"), TestCase(input="echo 1 2", expected_output="1 3")]
    result = runner.run(task("python", PROGRAM, tests=tests, checker=Checker(language="cpp", source=PERMUTATION_CPP)))
    assert verdicts(result) == [V.ACCEPTED, V.WRONG_ANSWER], result
    assert [test.checker_message for test in result.tests or []] == ["ok, a permutation\n", "not a permutation\n"]

    tests = [TestCase(input="echo 1 2 9 9", expected_output="1 2 3 4", points=10), TestCase(input="echo 5",
                                                                                             expected_output="5")]
    result = runner.run(task("python", PROGRAM, tests=tests, checker=Checker(language="python", source=PARTIAL_PY)))
    assert verdicts(result) == [V.WRONG_ANSWER, V.ACCEPTED]
    assert [test.points for test in result.tests or []] == [5.0, 1.0]
    assert (result.score, result.max_score) == (6.0, 11.0)
    assert result.tests[0].checker_message.startswith("0.5 2 of 4 right")  # type: ignore[index]


@pytest.mark.parametrize(("language", "source"), [("cpp", CRASH_CPP), ("python", CRASH_PY)])
def test_a_crashing_checker_is_a_judge_error_never_accepted(runner: SandboxRunner, language: str, source: str) -> None:
    result = runner.run(task("python", PROGRAM, tests=[echo("x"), echo("y")],
                             checker=Checker(language=language, source=source)))
    assert verdicts(result) == [V.JUDGE_ERROR, V.JUDGE_ERROR]
    assert result.verdict is V.JUDGE_ERROR and result.score == 0


def test_a_checker_that_does_not_compile_is_an_error_not_a_verdict_for_the_program(runner: SandboxRunner) -> None:
    result = runner.run(task("python", PROGRAM, tests=[echo("x"), echo("y")],
                             checker=Checker(language="cpp", source="int main( {")))
    assert result.status is TaskStatus.ERROR and "the checker did not compile" in (result.error or "")
    assert verdicts(result) == [V.JUDGE_ERROR, V.SKIPPED]
    assert result.verdict is V.JUDGE_ERROR
