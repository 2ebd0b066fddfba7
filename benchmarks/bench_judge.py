"""Judging: a C++ program compiled once and run against 10 inputs, in one task, warm and fresh.

Each task is ``faber_ray.languages.task("cpp", source, inputs=[...10])``: one
g++ step, then ten run steps in the same sandbox. The figure is tasks per
second through ``TaskExecutor.execute`` (default config), warm against fresh
in the same run. Run: ``python3 -m benchmarks.bench_judge [--tasks 40]``
"""

from __future__ import annotations

import argparse
import time

import ray

from faber_ray import ExecutorConfig, TaskExecutor, TaskStatus, languages

SOURCE = (
    "#include <iostream>\n#include <vector>\n#include <algorithm>\n"
    "int main() { int n; std::cin >> n; std::vector<long> v(n);\n"
    "  for (auto &x : v) std::cin >> x; std::sort(v.begin(), v.end());\n"
    "  long s = 0; for (auto x : v) s += x; std::cout << s << ' ' << v.front() << '\\n'; }\n"
)
INPUTS = [f"{n}\n" + " ".join(str((n * 7919 + i * 104729) % 1000) for i in range(n)) + "\n" for n in range(1, 11)]


def rate(executor: object, count: int, label: str) -> float:
    tasks = [languages.task("cpp", SOURCE, inputs=INPUTS) for _ in range(count)]
    started = time.perf_counter()
    results = ray.get(executor.execute.remote(tasks))  # type: ignore[attr-defined]
    elapsed = time.perf_counter() - started
    assert all(r.status is TaskStatus.SUCCESS and len(r.steps or []) == 11 for r in results), results[0]
    runs = sum(len(r.steps or []) - 1 for r in results)
    print(f"  {label:<8} {count} tasks ({runs} runs) in {elapsed:6.2f} s = {count / elapsed:5.2f} tasks/s, "
          f"{runs / elapsed:6.1f} runs/s")
    return count / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=40)
    args = parser.parse_args()
    ray.init(address="local", log_to_driver=False)
    print("C++: compile once, judge against 10 inputs, one task each (default config)")
    rates = {}
    for mode in ("warm", "fresh"):
        executor = TaskExecutor.remote(ExecutorConfig(sandbox_mode=mode))
        ray.get(executor.execute.remote([languages.task("cpp", SOURCE, inputs=INPUTS[:1])]))  # warm up
        rates[mode] = rate(executor, args.tasks, mode)
        ray.get(executor.shutdown.remote())
    print(f"  warm / fresh = {rates['warm'] / rates['fresh']:.2f}x")


if __name__ == "__main__":
    main()
