"""Judging throughput, warm mode: ``python -m benchmarks.bench_judge [--with-executor]``.

Through ``SandboxRunner`` (no Ray), one task at a time:

- C++ a+b compiled once, 200 ``TestCase``s: with the built-in ``lines`` checker, with a custom C++
  checker, and the same 200 runs as plain steps (``inputs=``); tests per second leave the compile out
  (its step's wall time is subtracted);
- ``stop="first_failure"`` with the first of 200 tests failing, against all 200 run;
- an interactive problem of 10,000 question-and-answer rounds (a C++ interactor and a C++ program,
  each in its own sandbox, wired through the host): the test's wall time beyond the two programs'
  own CPU time (the program's from its cgroup, the interactor's from its own getrusage, which it
  prints as its message).

``--with-executor`` adds the older comparison through ``TaskExecutor.execute``: 40 tasks of
``inputs=[10 inputs]``, warm against fresh (about 40 s more).
"""

from __future__ import annotations

import argparse
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
ROUNDS = 10_000
INTERACTOR = r"""
#include <cstdio>
#include <sys/resource.h>
int main(int argc, char** argv) {
    FILE* in = fopen(argv[1], "r"); long n = 0;
    if (!in || fscanf(in, "%ld", &n) != 1) return 3;
    for (long i = 0; i < n; i++) {
        printf("%ld\n", i); fflush(stdout);
        long got;
        if (scanf("%ld", &got) != 1) { fprintf(stderr, "no answer in round %ld\n", i); return 2; }
        if (got != i + 1) { fprintf(stderr, "wrong answer in round %ld\n", i); return 1; }
    }
    struct rusage u; getrusage(RUSAGE_SELF, &u);
    fprintf(stderr, "%.6f\n", u.ru_utime.tv_sec + u.ru_stime.tv_sec + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6);
    return 0;
}
"""
ANSWERER = "#include <cstdio>\nint main(){long x; while(scanf(\"%ld\",&x)==1){printf(\"%ld\\n\",x+1); fflush(stdout);}}\n"


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


def interactive(runner: SandboxRunner) -> None:
    test = TestCase(input=str(ROUNDS), expected_output="")
    built = task("cpp", ANSWERER, tests=[test], interactor=Checker(language="cpp", source=INTERACTOR))
    started = time.monotonic()
    result = runner.run(built)
    total = time.monotonic() - started
    (one,) = result.tests or []
    assert one.verdict.value == "ACCEPTED", result
    interactor_cpu = float(one.checker_message.split()[0])
    beyond = one.wall_time - one.time - interactor_cpu
    print(f"interactive, {ROUNDS} rounds: wall {one.wall_time:.2f} s, program CPU {one.time:.2f} s, interactor CPU "
          f"{interactor_cpu:.2f} s, beyond their CPU {beyond:.2f} s ({beyond / ROUNDS * 1e6:.0f} µs a round); "
          f"task {total:.2f} s with both compiles [{result.verdict}]")


def executor_comparison(count: int = 40) -> None:
    """The older figure: ``inputs=[10 inputs]`` tasks through the executor, warm against fresh."""
    import ray

    from faber_ray import TaskExecutor, TaskStatus, languages

    source = (
        "#include <iostream>\n#include <vector>\n#include <algorithm>\n"
        "int main() { int n; std::cin >> n; std::vector<long> v(n);\n"
        "  for (auto &x : v) std::cin >> x; std::sort(v.begin(), v.end());\n"
        "  long s = 0; for (auto x : v) s += x; std::cout << s << ' ' << v.front() << '\\n'; }\n"
    )
    inputs = [f"{n}\n" + " ".join(str((n * 7919 + i * 104729) % 1000) for i in range(n)) + "\n" for n in range(1, 11)]
    ray.init(address="local", log_to_driver=False)
    rates = {}
    for mode in ("warm", "fresh"):
        executor = TaskExecutor.remote(ExecutorConfig(sandbox_mode=mode))
        ray.get(executor.execute.remote([languages.task("cpp", source, inputs=inputs[:1])]))  # warm up
        tasks = [languages.task("cpp", source, inputs=inputs) for _ in range(count)]
        started = time.perf_counter()
        results = ray.get(executor.execute.remote(tasks))
        elapsed = time.perf_counter() - started
        assert all(r.status is TaskStatus.SUCCESS and len(r.steps or []) == 11 for r in results), results[0]
        print(f"executor, {mode:<5} {count} tasks of a compile and 10 inputs in {elapsed:6.2f} s = "
              f"{count / elapsed:5.2f} tasks/s, {count * 10 / elapsed:6.1f} runs/s")
        rates[mode] = count / elapsed
        ray.get(executor.shutdown.remote())
    print(f"executor, warm / fresh = {rates['warm'] / rates['fresh']:.2f}x")
    ray.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--with-executor", action="store_true", help="also the executor's warm vs fresh figure")
    args = parser.parse_args()
    runner = SandboxRunner(ExecutorConfig(sandbox_mode="warm", max_concurrent_tasks=2))
    tests = [TestCase(input=f"{i} {i + 1}\n", expected_output=f"{2 * i + 1}\n") for i in range(N)]
    try:
        runner.run(task("cpp", AB, tests=tests[:2]))  # warm the pool and the page cache
        timed(runner, "200 tests, lines checker", task("cpp", AB, tests=tests))
        timed(runner, "200 plain steps (inputs=...)", task("cpp", AB, inputs=[t.input for t in tests]))
        timed(runner, "200 tests, custom C++ checker",
              task("cpp", AB, tests=tests, checker=Checker(language="cpp", source=CHECKER)))
        failing = [TestCase(input="1 1\n", expected_output="3\n"), *tests[1:]]
        timed(runner, "first_failure, first of 200 fails", task("cpp", AB, tests=failing, stop="first_failure"))
        timed(runner, "never, first of 200 fails", task("cpp", AB, tests=failing))
        interactive(runner)
    finally:
        runner.close()
    if args.with_executor:
        executor_comparison()


if __name__ == "__main__":
    main()
