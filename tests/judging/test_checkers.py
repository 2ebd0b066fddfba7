"""The built-in checkers, each on both sides of its tolerance: pure functions, no engine."""

from __future__ import annotations

import pytest

from faber_ray.errors import TaskValidationError
from faber_ray.judging.checkers import builtin_checker
from faber_ray.judging.cases import Verdict

AC, WA = Verdict.ACCEPTED, Verdict.WRONG_ANSWER


def verdict(checker: str, output: bytes, answer: bytes) -> Verdict:
    return builtin_checker(checker)(output, answer)[0]


@pytest.mark.parametrize(("checker", "output", "answer", "expected"), [
    ("exact", b"1 2\n", b"1 2\n", AC),
    ("exact", b"1  2\n", b"1 2\n", WA),
    ("exact", b"1 2", b"1 2\n", WA),
    ("tokens", b"1  2\n", b"1 2\n", AC),
    ("tokens", b"  1\n\n2\t", b"1 2\n", AC),
    ("tokens", b"1 2 3", b"1 2", WA),
    ("tokens", b"12", b"1 2", WA),
    ("lines", b"1 2  \n3\n\n\n", b"1 2\n3", AC),
    ("lines", b"1 2\r\n3\r\n", b"1 2\n3\n", AC),
    ("lines", b"1  2\n3\n", b"1 2\n3\n", WA),  # inner whitespace counts
    ("lines", b"\n1 2\n3\n", b"1 2\n3\n", WA),  # so does a leading blank line
    ("lines", b"1 2\n", b"1 2\n3\n", WA),
    ("float:1e-6", b"0.3333333\n", b"0.33333331\n", AC),
    ("float:1e-6", b"0.3334\n", b"0.33333331\n", WA),
    ("float:1e-6", b"1000000.5", b"1000000.0", AC),  # relative error 5e-7
    ("float:1e-6", b"1000002", b"1000000", WA),
    ("float:1e-6", b"x 0.5", b"x 0.5000001", AC),
    ("float:1e-6", b"y 0.5", b"x 0.5", WA),  # words compare as written
    ("float:1e-6", b"nan", b"0", WA),
    ("float:1e-6", b"1e999", b"1e999", AC),  # the same token
    ("float:1e-6", b"1e999", b"1e998", WA),  # not compared as infinities
    ("float:1e-6", b"1 2", b"1", WA),
    ("float:0", b"0.1", b"0.10", AC),
    ("unordered-lines", b"b\na\nc\n", b"a\nb\nc", AC),
    ("unordered-lines", b"a \na\n", b"a\na\n", AC),
    ("unordered-lines", b"a\nb\n", b"a\na\n", WA),
    ("unordered-lines", b"a\n", b"a\na\n", WA),
])
def test_each_checker_on_both_sides_of_its_tolerance(checker: str, output: bytes, answer: bytes, expected: Verdict) -> None:
    assert verdict(checker, output, answer) is expected


def test_messages_say_where_never_what_the_answer_is() -> None:
    secret = b"the-secret-answer-42"
    for name in ("exact", "lines", "tokens", "float:1e-6", "unordered-lines"):
        message = builtin_checker(name)(b"wrong\n", secret + b"\n")[1]
        assert message and "secret" not in message and "42" not in message, (name, message)


@pytest.mark.parametrize("name", ["nope", "float", "float:", "float:abc", "float:-1", "float:nan", "float:inf", "Lines"])
def test_unknown_names_and_bad_eps_are_refused_naming_the_checker(name: str) -> None:
    with pytest.raises(TaskValidationError) as caught:
        builtin_checker(name)
    assert caught.value.field == "checker"
