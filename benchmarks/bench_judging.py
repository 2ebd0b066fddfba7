"""Judging throughput through SandboxRunner, warm mode: ``python -m benchmarks.bench_judging``.

C++ a+b compiled once, 200 tests: with the built-in ``lines`` checker, with a custom C++ checker, and
the same 200 runs as plain steps (``inputs``); then ``stop="first_failure"`` with the first test failing
against all 200 run. Tests per second leave the compile out (its step's wall time is subtracted).
"""

from __future__ import annotations

import time

from faber_ray import ExecutorConfig
from faber_ray.judging import Checker, TestCase
from faber_ray.languages import task
from faber_ray.models import TaskResult
from faber_ray.sandbox.runner import SandboxRunner

AB = "#include <cstdio>\nint main(){long a,b; if(scanf(\"%ld %ld\",&a,&b)!=2) return 1; printf(\"%ld\\n\",a+b);}\n"
CHECKER = r"""
#include <fstream>
int main(int argc, char** argv) {
    std::ifstream out(argv[2]), ans(argv[3]); long a, b;
    if (!(out >> a) || !(ans >> b)) return 1;
    return a == b ? 0 : 1;
}
"""
N = 200


def timed(runner: SandboxRunner, label: str, built: object) -> TaskResult:
    started = time.monotonic()
    result = runner.run(built)  # type: ignore[arg-type]
    total = time.monotonic() - started
    compile_wall = (result.steps or [])[0].resource_usage.wall_time if result.steps else 0.0
    runs = N if result.tests is None else sum(1 for test in result.tests if test.verdict.value != "SKIPPED")
    rate = runs / max(total - compile_wall, 1e-9)
    print(f"{label:<44} {total:6.2f} s total, compile {compile_wall:5.2f} s, {runs:3d} runs, {rate:6.1f} runs/s "
          f"[{result.verdict or result.status}]")
    return result


def main() -> None:
    runner = SandboxRunner(ExecutorConfig(sandbox_mode="warm", max_concurrent_tasks=2))
    tests = [TestCase(input=f"{i} {i + 1}\n", expected_output=f"{2 * i + 1}\n") for i in range(N)]
    try:
        runner.run(task("cpp", AB, tests=tests[:2]))  # warm the pool and the page cache
        timed(runner, "200 tests, lines checker", task("cpp", AB, tests=tests))
        timed(runner, "200 plain steps (inputs=...)", task("cpp", AB, inputs=[t.input for t in tests]))
        timed(runner, "200 tests, custom C++ checker", task("cpp", AB, tests=tests, checker=Checker(language="cpp", source=CHECKER)))
        failing = [TestCase(input="1 1\n", expected_output="3\n"), *tests[1:]]
        timed(runner, "first_failure, first of 200 fails", task("cpp", AB, tests=failing, stop="first_failure"))
        timed(runner, "never, first of 200 fails", task("cpp", AB, tests=failing))
    finally:
        runner.close()


if __name__ == "__main__":
    main()
