"""Files back out (collect) against the real engine, in both modes and under gVisor: only regular
files, sizes checked first, caps, nothing followed, nothing blocking."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from faber_ray.config import ExecutorConfig
from faber_ray.models import ResourceLimits, Step, Task, TaskStatus
from faber_ray.sandbox.runner import SandboxRunner

pytestmark = pytest.mark.usefixtures("no_leftover_sandboxes")

S = TaskStatus
GiB = 1024**3

MAKE = r"""
set -e
mkdir -p src/a/b out
echo top > top.txt
echo deep > src/a/b/deep.txt
echo mid > src/a/mid.txt
printf 'bin\000ary' > out/blob.bin
ln -s /etc/passwd out/passwd
ln -s ../top.txt out/inside
mkfifo out/fifo
echo twice > out/original; ln out/original out/hardlink
python3 -c "open('out/caf\u00e9 \u2603.txt', 'w').write('unicode'); open('out/two\nlines', 'w').write('newline')"
"""


def collected(runner: SandboxRunner, patterns: list[str], script: str = MAKE, **task: object) -> object:
    return runner.run(Task(steps=[Step(command="sh", args=["-c", script])], collect=patterns, **task))  # type: ignore[arg-type]


def test_nested_globs_return_regular_files_with_their_relative_paths(runner: SandboxRunner) -> None:
    result = collected(runner, ["src/**/*.txt", "top.txt", "out/*.bin"])
    assert result.status is S.SUCCESS, result  # type: ignore[attr-defined]
    assert result.files == {  # type: ignore[attr-defined]
        "src/a/b/deep.txt": b"deep\n", "src/a/mid.txt": b"mid\n", "top.txt": b"top\n", "out/blob.bin": b"bin\x00ary",
    }


def test_links_fifos_directories_and_hard_links_are_refused_with_reasons(runner: SandboxRunner) -> None:
    result = collected(runner, ["out/*", "src", "nothing-*"])
    errors = result.file_errors  # type: ignore[attr-defined]
    assert "symbolic link" in errors["out/passwd"] and "symbolic link" in errors["out/inside"]
    assert errors["out/fifo"] == "a FIFO"
    assert errors["src"] == "a directory"
    assert errors["out/hardlink"].startswith("a hard link")
    assert errors["nothing-*"] == "no file matched"
    assert "out/passwd" not in result.files and b"root:" not in b"".join(result.files.values())  # type: ignore[attr-defined]
    assert result.files["out/café ☃.txt"] == b"unicode"  # type: ignore[attr-defined]
    assert result.files["out/two\nlines"] == b"newline"  # type: ignore[attr-defined]


def test_a_huge_sparse_file_is_refused_from_its_size(make_runner: Callable[..., SandboxRunner]) -> None:
    roomy = ResourceLimits(memory=12 * GiB, disk=11 * GiB, timeout=60, cpu_time=60, max_processes=4096,
                           max_output=64 * 1024**2)
    runner = make_runner(ceilings=roomy)
    result = collected(runner, ["sparse"], "truncate -s 10G sparse", limits=ResourceLimits(memory=12 * GiB, disk=11 * GiB))
    assert result.status is S.SUCCESS, result  # type: ignore[attr-defined]
    assert result.files == {}  # type: ignore[attr-defined]
    assert "10737418240 bytes" in result.file_errors["sparse"]  # type: ignore[attr-defined]


def test_more_files_than_the_cap_are_listed_as_over_it(make_runner: Callable[..., SandboxRunner]) -> None:
    runner = make_runner(max_collected_files=3, max_collected_bytes=1000)
    script = "for i in 1 2 3 4 5; do echo $i > f$i; done; head -c 2000 /dev/zero > big"
    result = collected(runner, ["f*", "big"], script)
    assert sorted(result.files) == ["f1", "f2", "f3"]  # type: ignore[attr-defined]
    errors = result.file_errors  # type: ignore[attr-defined]
    assert "max_collected_files" in errors["f4"] and "max_collected_files" in errors["f5"]
    assert "max_collected_bytes" in errors["big"]


def test_collect_works_after_a_failed_step(runner: SandboxRunner) -> None:
    result = collected(runner, ["log.txt"], "echo why > log.txt; exit 2")
    assert result.status is S.FAILURE  # type: ignore[attr-defined]
    assert result.files == {"log.txt": b"why\n"}  # type: ignore[attr-defined]


def test_collect_under_gvisor(runsc: None, make_runner: Callable[..., SandboxRunner]) -> None:
    runner = make_runner(runtime="runsc")
    result = collected(runner, ["top.txt", "out/*"])
    assert result.files["top.txt"] == b"top\n", result  # type: ignore[attr-defined]
    assert result.file_errors["out/fifo"] == "a FIFO"  # type: ignore[attr-defined]
    assert "symbolic link" in result.file_errors["out/passwd"]  # type: ignore[attr-defined]


def test_collected_bytes_are_base64_in_json() -> None:
    from faber_ray.models import TaskResult

    result = TaskResult(execution_id="x", status=S.SUCCESS, files={"a.bin": b"\x00\xff"})
    assert '"a.bin":"AP8="' in result.model_dump_json()
    assert TaskResult.model_validate_json(result.model_dump_json()).files == {"a.bin": b"\x00\xff"}
    assert ExecutorConfig().max_collected_bytes == 16 * 1024**2
