"""A program that tries to reach the answer or tamper with the judging, against real sandboxes in both modes.

The answer and the other tests' inputs never enter the program's sandbox (the
built-in checkers run on the host; a custom checker in a sandbox of its own),
so however hard it looks it finds nothing; what it breaks between tests is
restored; what it prints is only its output.
"""

from __future__ import annotations

import struct
import uuid

import pytest

from faber_ray.judging import Checker, TestCase, Verdict
from faber_ray.languages import task
from faber_ray.sandbox.runner import SandboxRunner

pytestmark = pytest.mark.usefixtures("no_leftover_sandboxes")

V = Verdict

# Searches every readable file of the filesystem and /proc (environments, command lines, open files of
# every process it can see) for the answer's marker and for the other tests' inputs. The markers are
# built at run time, so the program's own source never holds them whole.
SEARCH = r"""
import os, re, sys
own = sys.stdin.read().strip()             # "INPUT-<batch>-<n>"
batch = own.split("-")[1]
answer = re.compile(("SEC" + "RET-" + batch).encode())
other = re.compile(("INP" + "UT-" + batch + "-").encode() + rb"(\d+)")
found = []
def look(path):
    try:
        with open(path, "rb") as f:
            data = f.read(4 << 20)
    except Exception:
        return
    if answer.search(data):
        found.append("answer in " + path)
    for m in other.finditer(data):
        if m.group(0).decode() != own:
            found.append("input " + m.group(0).decode() + " in " + path)
for root, dirs, files in os.walk("/", onerror=None):
    if root in ("/sys",):
        dirs[:] = []
        continue
    if root.startswith("/proc/") and root.count("/") > 3 or root.endswith("/task"):
        dirs[:] = []
    for name in files:
        if root.startswith("/proc") and name in ("mem", "pagemap", "kcore", "kmsg", "clear_refs"):
            continue
        path = os.path.join(root, name)
        if os.path.isfile(path) and not os.path.islink(path):
            look(path)
print("\n".join(found) or "clean")
"""

PEEK_CHECKER = "import sys\nsys.exit(0 if open(sys.argv[2]).read() == open(sys.argv[3]).read() else 1)\n"


@pytest.mark.parametrize("checker", ["lines", "custom"])
def test_the_answer_and_the_other_inputs_are_nowhere_the_program_can_look(runner: SandboxRunner, checker: str) -> None:
    batch = uuid.uuid4().hex
    tests = [TestCase(input=f"INPUT-{batch}-{n}", expected_output=f"SECRET-{batch}-{n}\n") for n in range(3)]
    judge: str | Checker = checker if checker == "lines" else Checker(language="python", source=PEEK_CHECKER)
    result = runner.run(task("python", SEARCH, tests=tests, checker=judge))
    assert [test.stdout for test in result.tests or []] == ["clean\n"] * 3, result
    assert [test.verdict for test in result.tests or []] == [V.WRONG_ANSWER] * 3
    assert all(batch not in test.checker_message for test in result.tests or [])


# Between its answers, it deletes or overwrites every file it can write (the program itself included, and
# files named like a checker's), fills the disk, and kills every process it can see.
TAMPER = r"""
import os, signal, sys
a, b = map(int, sys.stdin.read().split())
print(a + b, flush=True)
for top in ("/work", "/tmp", "/dev/shm"):
    for root, dirs, files in os.walk(top):
        for name in files:
            try: os.remove(os.path.join(root, name))
            except OSError: pass
for name in ("input.txt", "output.txt", "answer.txt", "checker", "main", "main.py", "main.cpp"):
    try: open(os.path.join("/work", name), "w").write("0\n" * 100)
    except OSError: pass
try:
    with open("/tmp/fill", "wb") as f:
        while True: f.write(b"x" * (1 << 20))
except OSError: pass
for pid in os.listdir("/proc"):
    if pid.isdigit() and int(pid) != os.getpid():
        try: os.kill(int(pid), signal.SIGKILL)
        except OSError: pass
os.fork() or os.execvp("sleep", ["sleep", "60"])
"""
EXACT_CHECKER = "import sys\nsys.exit(0 if open(sys.argv[2]).read().split() == open(sys.argv[3]).read().split() else 1)\n"


@pytest.mark.parametrize("checker", ["lines", "custom"])
def test_tampering_between_tests_changes_no_verdict(runner: SandboxRunner, checker: str) -> None:
    tests = [TestCase(input=f"{n} {n}", expected_output=f"{2 * n}\n") for n in range(4)]
    tests.append(TestCase(input="1 1", expected_output="3\n"))  # still a wrong answer
    judge: str | Checker = checker if checker == "lines" else Checker(language="python", source=EXACT_CHECKER)
    result = runner.run(task("python", TAMPER, tests=tests, checker=judge))
    assert [test.verdict for test in result.tests or []] == [V.ACCEPTED] * 4 + [V.WRONG_ANSWER], result
    assert (result.score, result.verdict) == (4.0, V.WRONG_ANSWER)


def _exit_frame() -> bytes:
    """What the agent's EXIT frame for a clean exit looks like on its channel."""
    payload = struct.pack(">iBiQQQBI", 0, 0, 0, 1, 0, 0, 0, 1)
    return struct.pack(">IB", len(payload) + 1, 67) + payload


def test_printing_framing_has_no_effect(runner: SandboxRunner) -> None:
    """Lines that look like a checker's verdict, testlib's partial score, or the agent's frames are output."""
    fake = _exit_frame()
    program = (
        "import sys\nsys.stdout.write('ok\\n7\\n1.0 points\\nACCEPTED\\n')\nsys.stdout.flush()\n"
        f"sys.stdout.buffer.write({fake!r})\nsys.stderr.buffer.write({fake!r})\nsys.exit(0)\n"
    )
    tests = [TestCase(expected_output="42\n")]
    for judge in ("lines", "tokens", Checker(language="python", source=EXACT_CHECKER)):
        result = runner.run(task("python", program, tests=tests, checker=judge))
        assert result.verdict is V.WRONG_ANSWER and result.score == 0, (judge, result)
        assert result.tests[0].stdout.startswith("ok\n7\n1.0 points\nACCEPTED\n")  # type: ignore[index]


def test_the_search_finds_what_is_within_reach(runner: SandboxRunner) -> None:
    """The control: the same search finds an answer and another input put where the program can read them."""
    batch = uuid.uuid4().hex
    leak = {"leak.txt": f"SECRET-{batch}-0 INPUT-{batch}-1"}
    result = runner.run(task("python", SEARCH, tests=[TestCase(input=f"INPUT-{batch}-0")], files=leak))
    found = (result.tests or [])[0].stdout
    assert f"answer in /work/leak.txt\ninput INPUT-{batch}-1 in /work/leak.txt" in found, result
