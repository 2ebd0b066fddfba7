"""Interactive problems against real sandboxes, in both modes: a guess-the-number interactor in Python.

The interactor reads the range from ``input.txt`` and the secret from ``answer.txt`` (files in its own
sandbox), tells the program the range, and answers each guess with ``<``, ``>`` or ``=``; more than
10 questions is a wrong answer (exit 1), a program that stops talking is a presentation error (exit 2).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from faber_ray.judging import Checker, TestCase, Verdict
from faber_ray.languages import task
from faber_ray.models import ResourceLimits, TaskStatus
from faber_ray.sandbox.runner import SandboxRunner

pytestmark = pytest.mark.usefixtures("no_leftover_sandboxes")

V = Verdict
INTERACTOR = Checker(language="python", source="""
import sys
hi = int(open(sys.argv[1]).read())
secret = int(open(sys.argv[2]).read())
print(hi, flush=True)
asked = 0
while True:
    line = sys.stdin.readline()
    if not line.strip():
        print(f"the program stopped after {asked} questions", file=sys.stderr)
        sys.exit(2)
    asked += 1
    if asked > 10:
        print("too many questions", file=sys.stderr)
        sys.exit(1)
    guess = int(line)
    if guess == secret:
        print("=", flush=True)
        print(f"found in {asked}", file=sys.stderr)
        sys.exit(0)
    print("<" if secret < guess else ">", flush=True)
""")

BINARY_SEARCH = """
import os, sys
low, high = 1, int(input())
while True:
    middle = (low + high) // 2
    print(middle, flush=True)
    reply = input()
    if reply == "=":
        break
    if reply == "<":
        high = middle - 1
    else:
        low = middle + 1
# Nothing of the test is in this sandbox: not its input, not its answer.
print(sorted(os.listdir(".")), file=sys.stderr)
"""
LINEAR = """
high = int(input())
for guess in range(1, high + 1):
    print(guess, flush=True)
    if input() == "=":
        break
"""
STOPS_READING = """
import time
input()
print(1, flush=True)
time.sleep(60)
"""
SAYS_NOTHING = "input()\n"

TESTS = [TestCase(input="1000", expected_output=str(secret)) for secret in (1, 500, 777, 1000)]


def verdicts(result: object) -> list[Verdict]:
    return [test.verdict for test in result.tests or []]  # type: ignore[attr-defined]


def test_a_binary_search_is_accepted(runner: SandboxRunner) -> None:
    result = runner.run(task("python", BINARY_SEARCH, tests=TESTS, interactor=INTERACTOR))
    assert verdicts(result) == [V.ACCEPTED] * 4, result
    assert (result.verdict, result.score, result.max_score, result.status) == (V.ACCEPTED, 4.0, 4.0,
                                                                               TaskStatus.SUCCESS)
    assert result.tests[0].checker_message.startswith("found in ")  # type: ignore[index]
    assert "1000" not in result.stderr and "answer" not in result.stderr  # what the program saw of /work


def test_too_many_questions_is_a_wrong_answer(runner: SandboxRunner) -> None:
    result = runner.run(task("python", LINEAR, tests=TESTS, interactor=INTERACTOR))
    # The secret 1 is found at once; the others need more than 10 guesses. The program then reads the end
    # of its input and crashes, but the interactor ended first and said why.
    assert verdicts(result) == [V.ACCEPTED, V.WRONG_ANSWER, V.WRONG_ANSWER, V.WRONG_ANSWER], result
    assert result.tests[1].checker_message.strip() == "too many questions"  # type: ignore[index]
    assert result.score == 1.0


def test_a_program_that_stops_reading_ends_at_its_time_limit(runner: SandboxRunner) -> None:
    started = time.monotonic()
    result = runner.run(task("python", STOPS_READING, tests=TESTS[:1], interactor=INTERACTOR,
                             limits=ResourceLimits(timeout=1.5)))
    assert verdicts(result) == [V.TIME_LIMIT_EXCEEDED], result
    assert time.monotonic() - started < 30


def test_a_program_that_stops_talking_gets_the_interactors_verdict(runner: SandboxRunner) -> None:
    result = runner.run(task("python", SAYS_NOTHING, tests=TESTS[:2], interactor=INTERACTOR))
    assert verdicts(result) == [V.PRESENTATION_ERROR] * 2, result
    assert "stopped after 0 questions" in result.tests[0].checker_message  # type: ignore[index]


def test_a_crashing_or_slow_interactor_never_accepts(runner: SandboxRunner) -> None:
    crashing = Checker(language="python", source="print(1, flush=True)\nraise SystemError('bug')\n")
    result = runner.run(task("python", SAYS_NOTHING, tests=TESTS[:1], interactor=crashing))
    assert verdicts(result) == [V.JUDGE_ERROR], result
    silent = Checker(language="python", source="import time\ntime.sleep(60)\n",
                     limits=ResourceLimits(timeout=3))
    result = runner.run(task("python", "input()\n", tests=TESTS[:1], interactor=silent,
                             limits=ResourceLimits(timeout=3)))
    assert verdicts(result) == [V.TIME_LIMIT_EXCEEDED], result  # both waited; the program's limit came first


def test_a_cpp_program_against_the_interactor(runner: SandboxRunner) -> None:
    source = r"""
#include <iostream>
#include <string>
int main() {
    long low = 1, high; std::cin >> high;
    for (;;) {
        long middle = (low + high) / 2;
        std::cout << middle << std::endl;
        std::string reply; if (!(std::cin >> reply)) return 1;
        if (reply == "=") return 0;
        if (reply == "<") high = middle - 1; else low = middle + 1;
    }
}
"""
    result = runner.run(task("cpp", source, tests=TESTS, interactor=INTERACTOR))
    assert verdicts(result) == [V.ACCEPTED] * 4, result


def test_an_interactive_problem_under_gvisor(runsc: None, make_runner: Callable[..., SandboxRunner]) -> None:
    """Under gVisor the program and the interactor are two gVisor sandboxes, wired through the host
    as under runc; the interactor's files stay out of the program's."""
    gvisor = make_runner(runtime="runsc")
    result = gvisor.run(task("python", BINARY_SEARCH, tests=TESTS[:2], interactor=INTERACTOR))
    assert verdicts(result) == [V.ACCEPTED] * 2, result
    assert "1000" not in result.stderr and "answer" not in result.stderr
    result = gvisor.run(task("python", LINEAR, tests=TESTS[1:2], interactor=INTERACTOR))
    assert verdicts(result) == [V.WRONG_ANSWER], result
