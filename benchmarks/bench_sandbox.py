"""One task at a time through the sandbox core, against the raw docker SDK doing the same.

Prints ratios (faber-ray / baseline) for the latency of one short task and of
a task that writes 8 MiB of output, in fresh mode (a container per task, as the
SDK does) and in warm mode (one reused, reset container).
Run: ``python3 -m benchmarks.bench_sandbox [--repeat 20]``
"""

from __future__ import annotations

import argparse

import docker

from benchmarks.common import raw_docker_run, ratio_line, timed
from faber_ray import ExecutorConfig, ResourceLimits, Task
from faber_ray.sandbox import SandboxRunner


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    client = docker.from_env()
    runners = {mode: SandboxRunner(ExecutorConfig(sandbox_mode=mode), client=client) for mode in ("fresh", "warm")}
    raw_docker_run(client, ["true"])  # warm the image cache
    cases = {
        "echo": ["echo", "hello"],
        "8 MiB output": ["python3", "-c", "import sys; sys.stdout.write('x' * (8 << 20))"],
    }
    for name, argv in cases.items():
        print(f"{name}:")
        task = Task(command=argv[0], args=argv[1:], limits=ResourceLimits(max_output=16 << 20))
        base = timed("docker SDK containers.run", args.repeat, lambda: raw_docker_run(client, argv))
        for mode, runner in runners.items():
            ours = timed(f"faber-ray SandboxRunner.run ({mode})", args.repeat, lambda runner=runner: runner.run(task))
            ratio_line(f"{name}, {mode}", ours, base)
    for runner in runners.values():
        runner.close()


if __name__ == "__main__":
    main()
