"""The built-in checkers: pure functions of (output, answer) that run on the host, in the worker.

They never run in the program's sandbox, so the answer never enters it: the
host compares the stdout it captured with the answer it kept. Their messages
say *where* an output differs, never what the answer holds, so a result shown
to whoever wrote the program (a model in a training loop, say) gives no answer
away either.

- ``exact``: byte for byte.
- ``lines``: Judge0's comparison: trailing whitespace on each line and
  trailing blank lines ignored.
- ``tokens``: the same whitespace-separated tokens.
- ``float:EPS``: the same tokens, numeric ones within EPS absolute or relative error.
- ``unordered-lines``: the same multiset of lines (compared as ``lines`` compares each).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable

from faber_ray.errors import TaskValidationError
from faber_ray.judging.cases import Verdict

__all__ = ["BUILTIN_CHECKERS", "BuiltinChecker", "builtin_checker", "check_exact", "check_float", "check_lines",
           "check_tokens", "check_unordered_lines", "parse_eps"]

#: (output, answer) -> (verdict, message): ACCEPTED or WRONG_ANSWER, and where they differ.
BuiltinChecker = Callable[[bytes, bytes], tuple[Verdict, str]]

#: A number as a token: what a program prints, and nothing float() accepts besides ("1_0", "nan", "infinity").
_NUMBER = re.compile(rb"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")

_OK = (Verdict.ACCEPTED, "")


def _wrong(message: str) -> tuple[Verdict, str]:
    return Verdict.WRONG_ANSWER, message


def check_exact(output: bytes, answer: bytes) -> tuple[Verdict, str]:
    if output == answer:
        return _OK
    at = next((i for i, (a, b) in enumerate(zip(output, answer)) if a != b), min(len(output), len(answer)))
    return _wrong(f"the output differs from the answer at byte {at}")


def _lines(data: bytes) -> list[bytes]:
    """Judge0's normal form: each line without its trailing whitespace, trailing blank lines dropped."""
    lines = [line.rstrip() for line in data.split(b"\n")]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def check_lines(output: bytes, answer: bytes) -> tuple[Verdict, str]:
    got, want = _lines(output), _lines(answer)
    if got == want:
        return _OK
    at = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), None)
    if at is not None:
        return _wrong(f"line {at + 1} differs")
    return _wrong(f"{len(got)} lines, expected {len(want)}")


def check_tokens(output: bytes, answer: bytes) -> tuple[Verdict, str]:
    got, want = output.split(), answer.split()
    if got == want:
        return _OK
    at = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), None)
    if at is not None:
        return _wrong(f"token {at + 1} differs")
    return _wrong(f"{len(got)} tokens, expected {len(want)}")


def _close(got: bytes, want: bytes, eps: float) -> bool:
    if got == want:
        return True
    if not (_NUMBER.fullmatch(got) and _NUMBER.fullmatch(want)):
        return False
    a, b = float(got), float(want)
    if not (math.isfinite(a) and math.isfinite(b)):  # 1e999: out of any float's range, so compared as written
        return False
    return abs(a - b) <= eps or abs(a - b) <= eps * abs(b)


def check_float(output: bytes, answer: bytes, eps: float) -> tuple[Verdict, str]:
    got, want = output.split(), answer.split()
    if len(got) != len(want):
        return _wrong(f"{len(got)} tokens, expected {len(want)}")
    for at, (a, b) in enumerate(zip(got, want)):
        if not _close(a, b, eps):
            return _wrong(f"token {at + 1} differs (by more than {eps:g}, if it is a number)")
    return _OK


def check_unordered_lines(output: bytes, answer: bytes) -> tuple[Verdict, str]:
    got, want = Counter(_lines(output)), Counter(_lines(answer))
    if got == want:
        return _OK
    return _wrong(f"{sum((got - want).values())} lines not in the answer, {sum((want - got).values())} missing")


BUILTIN_CHECKERS: dict[str, BuiltinChecker] = {
    "exact": check_exact,
    "lines": check_lines,
    "tokens": check_tokens,
    "unordered-lines": check_unordered_lines,
}


def parse_eps(text: str, field: str = "checker") -> float:
    """EPS of ``float:EPS``: a finite number, zero or more."""
    try:
        eps = float(text)
    except ValueError:
        raise TaskValidationError(f"float:EPS needs a number for EPS, got {text!r} (e.g. float:1e-6)",
                                  field=field) from None
    if not math.isfinite(eps) or eps < 0:
        raise TaskValidationError(f"float:EPS needs a finite EPS of zero or more, got {text!r}", field=field)
    return eps


def builtin_checker(name: str, field: str = "checker") -> BuiltinChecker:
    """The built-in checker called ``name``; an unknown name is refused, listing the known ones."""
    if name.startswith("float:"):
        eps = parse_eps(name.removeprefix("float:"), field)
        return lambda output, answer: check_float(output, answer, eps)
    try:
        return BUILTIN_CHECKERS[name]
    except KeyError:
        known = ", ".join([*BUILTIN_CHECKERS, "float:EPS"])
        raise TaskValidationError(f"unknown checker {name!r}; the built-ins are {known}, or give a Checker",
                                  field=field) from None
