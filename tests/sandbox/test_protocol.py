"""The host's and the agent's halves of the protocol agree, and the output budget is judged; no engine."""

from __future__ import annotations

import enum
import re
import signal
from pathlib import Path

import pytest

from faber_ray.config import ExecutorConfig
from faber_ray.models import ResourceLimits, TaskStatus
from faber_ray.sandbox.agent.build import SOURCES
from faber_ray.sandbox.cgroup import CgroupUsage
from faber_ray.sandbox.outcome import judge_run
from faber_ray.sandbox.agent.protocol import (
    PROTOCOL_VERSION,
    AgentMessage,
    End,
    EntryKind,
    ExitFlag,
    ExitReport,
    HostMessage,
    SpecKey,
)
from faber_ray.sandbox.streams import CappedBuffer, OutputBudget
from faber_ray.status import decide_status

HEADER = Path(__file__).parents[2] / "faber_ray" / "sandbox" / "agent" / "agent.h"
PREFIXES: dict[str, type[enum.IntEnum] | type[enum.IntFlag]] = {
    "H_": HostMessage, "A_": AgentMessage, "K_": SpecKey, "F_": ExitFlag, "END_": End, "E_": EntryKind,
}
ALIASES = {"DIR": "DIRECTORY"}


def defines() -> dict[str, int]:
    found = re.findall(r"^#define (\w+) (\d+)\b", HEADER.read_text(), flags=re.MULTILINE)
    return {name: int(value) for name, value in found}


@pytest.mark.parametrize("prefix", list(PREFIXES))
def test_every_number_of_agent_h_is_the_same_in_protocol_py(prefix: str) -> None:
    kind = PREFIXES[prefix]
    in_header = {
        ALIASES.get(name[len(prefix):], name[len(prefix):]): value
        for name, value in defines().items() if name.startswith(prefix)
    }
    in_python = {member.name: int(member.value) for member in kind}  # type: ignore[union-attr]
    assert in_header == in_python


def test_the_protocol_version_agrees() -> None:
    assert "agent.h" in SOURCES
    assert defines()["PROTOCOL_VERSION"] == PROTOCOL_VERSION


def test_a_run_past_the_tasks_output_budget_is_an_output_limit() -> None:
    limits = ExecutorConfig().resolve_limits(ResourceLimits())
    report = ExitReport(signal.SIGKILL, End.RAN, 0, 1, 10, 10, ExitFlag.TOTAL_OVER, 1, "")
    facts = judge_run(report, CgroupUsage(processes=1), limits, "cmd", cpu_kill_sent=False, cancelled=False)
    assert facts.limits_hit == {"max_task_output"}
    assert decide_status(facts) is TaskStatus.OUTPUT_LIMIT_EXCEEDED


def test_two_buffers_share_one_budget() -> None:
    budget = OutputBudget(10)
    out, err = CappedBuffer(8, budget), CappedBuffer(8, budget)
    out.feed(b"123456")
    err.feed(b"abcdef")
    assert (out.text(), err.text(), budget.left) == ("123456", "abcd", 0)
    assert (out.overflowed, err.overflowed) == (False, True)
    out.feed(b"7")
    assert (out.text(), out.overflowed) == ("123456", True)
