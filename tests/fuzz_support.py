"""Hypothesis strategies for odd input: task-like dicts (plain and language form), Judge0 submissions, junk.

Each field of a task is drawn either from values near what it expects (so the
example gets past the type checks and reaches the rules about values) or from
junk of any type: odd and huge numbers, NaN, size strings too large for any
integer type, lone surrogates, NULs, nested lists and objects. ``json_safe``
strategies hold only what a JSON body can carry (no bytes; integers short
enough for ``json``'s 4,300-digit limit), so the same shapes go through HTTP.
"""

from __future__ import annotations

import base64
import io
import json
import warnings
import zipfile
from typing import Any

from hypothesis import strategies as st

from faber_ray.http.judge0.languages import JUDGE0_LANGUAGES
from faber_ray.languages import LANGUAGES
from faber_ray.models import ResourceLimits

__all__ = [
    "dumps",
    "judge0_submission",
    "junk",
    "language_task",
    "plain_task",
    "task_like",
]

#: Strings a check has tripped on: surrogates (alone, in pairs, among text), NULs, odd spaces.
SPECIAL_TEXT = [
    "\ud800", "\udfff", "a\udcffb", "\ud83d\ude00", "\ud83d", "\x00", "a\x00b", "", " ", "\n", "\t\r",
    "..", "/", "~", "\u202e", "\ufeff", "é", "😀", "*", "**", "a/../b",
]
#: Size strings a parser has tripped on.
SIZE_TEXT = [
    "256m", "1g", "64 MiB", "1.5k", "0", "0m", "1" + "0" * 400, "1" + "0" * 30, "1" + "0" * 20 + "t",
    "9223372036854775807", "9223372036854775808", "1e400", "1e3", "nan", "inf", "-1", "1." + "5" * 50 + "g",
    "0" * 60 + "64", "99999999999999999999999t", "1" * 5000,
]
ODD_INTS = [0, 1, -1, 2, 2**31, 2**31 - 1, 2**53 + 1, 2**63 - 1, 2**63, -(2**63), 2**64, 10**30, 10**400, -(10**400)]
ODD_FLOATS = [0.0, -0.0, 0.5, 1e-300, 5e-324, 1e308, -1e308, float("nan"), float("inf"), float("-inf"), 1e19, 1e3]

_chars = st.characters(exclude_categories=())  # every code point, lone surrogates included


def _mostly(usual: st.SearchStrategy[Any], rare: st.SearchStrategy[Any], odds: int = 6) -> st.SearchStrategy[Any]:
    """``usual``, and once in about ``odds`` draws ``rare`` (``one_of`` cannot weigh: it merges equal branches)."""
    return st.sampled_from([True] * (odds - 1) + [False]).flatmap(lambda common: usual if common else rare)


def text(max_size: int = 12) -> st.SearchStrategy[str]:
    """Mostly ordinary text; now and then any code points, or a special string alone or inside text."""
    odd = st.text(_chars, max_size=max_size) | st.sampled_from(SPECIAL_TEXT) | st.builds(
        lambda a, b, c: a + b + c, st.text(max_size=4), st.sampled_from(SPECIAL_TEXT), st.text(max_size=4)
    )
    return _mostly(st.text(max_size=max_size), odd, 3)


def _atoms(json_safe: bool) -> st.SearchStrategy[Any]:
    ints = st.sampled_from(ODD_INTS) | st.integers()
    if not json_safe:
        # More digits than int() turns into a string (drawn by map: hypothesis cannot repr the number).
        ints = ints | st.just(5000).map(lambda digits: 10**digits)
    atoms = (
        st.none() | st.booleans() | ints | st.sampled_from(ODD_FLOATS) | st.floats()
        | text() | st.sampled_from(SIZE_TEXT)
    )
    return atoms if json_safe else atoms | st.binary(max_size=8) | st.just(b"\xff\xfe")


def junk(json_safe: bool) -> st.SearchStrategy[Any]:
    """Anything: atoms, and lists and objects of them, nested."""
    return st.recursive(
        _atoms(json_safe),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text(6), inner, max_size=3),
        max_leaves=6,
    )


def _or_junk(strategy: st.SearchStrategy[Any], json_safe: bool) -> st.SearchStrategy[Any]:
    """Mostly the plausible value, sometimes junk: a task has many fields, and one junk field stops it
    at the type checks, so junk must be rare enough for many examples to reach the rules about values."""
    return _mostly(strategy, junk(json_safe))


def _data(json_safe: bool) -> st.SearchStrategy[Any]:
    """A file's content or a stdin."""
    return text(20) if json_safe else text(20) | st.binary(max_size=16)


_COMMANDS = ["echo", "true", "python3", "sh", "", " ", "reboot", "/bin/echo", "mkfs.ext4", "ec\x00ho"]
_PATHS = ["a", "a/b", "a/b/c", "../x", "/etc/x", "a//b", ".", "./a", "main.py", "a/", "x" * 300, "/".join("d" * 70)]
_IMAGES = ["faber-ray/python:3", "faber-ray/gcc:12", "ubuntu", "faber-ray/x\x00", "", "faber-ray/*"]


def _number(json_safe: bool) -> st.SearchStrategy[Any]:
    return (
        st.integers(min_value=-2, max_value=2**34) | st.floats(min_value=-1, max_value=1e4)
        | st.sampled_from(ODD_INTS) | st.sampled_from(ODD_FLOATS) | st.sampled_from(SIZE_TEXT) | st.booleans()
    )


def _limits(json_safe: bool) -> st.SearchStrategy[Any]:
    names = _mostly(st.sampled_from(list(ResourceLimits.model_fields)), st.sampled_from(["stack", "Memory"]) | text(6), 10)
    return _or_junk(st.dictionaries(names, _or_junk(_number(json_safe), json_safe), max_size=4), json_safe)


def _path(json_safe: bool) -> st.SearchStrategy[str]:
    return st.sampled_from(_PATHS) | text(10)


def _files(json_safe: bool) -> st.SearchStrategy[Any]:
    return _or_junk(st.dictionaries(_path(json_safe), _or_junk(_data(json_safe), json_safe), max_size=3), json_safe)


def _strings(json_safe: bool, max_size: int = 3) -> st.SearchStrategy[Any]:
    return _or_junk(st.lists(_or_junk(text(), json_safe), max_size=max_size), json_safe)


def _env(json_safe: bool) -> st.SearchStrategy[Any]:
    names = st.sampled_from(["A", "PATH", "LD_PRELOAD\n", "", "1A", "A B"]) | text(6)
    return _or_junk(st.dictionaries(names, _or_junk(text(), json_safe), max_size=3), json_safe)


def _object(
    required: dict[str, st.SearchStrategy[Any]], optional: dict[str, st.SearchStrategy[Any]], json_safe: bool
) -> st.SearchStrategy[dict[str, Any]]:
    """An object with ``required`` keys and some of ``optional``; rarely with a key nobody knows (which stops
    validation at once, so it must be rare for the other fields to be looked at)."""
    usual = st.fixed_dictionaries(required, optional=optional)
    return _mostly(usual, st.fixed_dictionaries(required, optional={**optional, "unknown": junk(json_safe)}), 8)


def _step(json_safe: bool) -> st.SearchStrategy[Any]:
    return _object(
        {"command": _or_junk(st.sampled_from(_COMMANDS) | text(), json_safe)},
        {
            "args": _strings(json_safe), "env": _env(json_safe), "stdin": _or_junk(_data(json_safe), json_safe),
            "limits": _limits(json_safe), "continue_on_failure": _or_junk(st.booleans(), json_safe),
        },
        json_safe,
    )


def plain_task(json_safe: bool) -> st.SearchStrategy[dict[str, Any]]:
    """A task in its plain form, each field plausible or junk: mostly a command or steps (what a task
    needs), sometimes any mix of the fields (neither, or both)."""
    command = _or_junk(st.sampled_from(_COMMANDS) | text(), json_safe)
    steps = _or_junk(st.lists(_or_junk(_step(json_safe), json_safe), max_size=3), json_safe)
    shared = {
        "env": _env(json_safe),
        "files": _files(json_safe),
        "image": _or_junk(st.sampled_from(_IMAGES) | text(), json_safe),
        "limits": _limits(json_safe),
        "network": _or_junk(st.booleans(), json_safe),
        "collect": _strings(json_safe),
    }
    own = {"args": _strings(json_safe), "stdin": _or_junk(_data(json_safe), json_safe)}
    usual = st.one_of(
        _object({"command": command}, {**shared, **own}, json_safe), _object({"steps": steps}, shared, json_safe)
    )
    return _mostly(usual, _object({}, {**shared, **own, "command": command, "steps": steps}, json_safe), 5)


def language_task(json_safe: bool) -> st.SearchStrategy[dict[str, Any]]:
    """A task in the language form (``{"language": ..., "source": ...}``), each field plausible or junk."""
    return _object(
        {
            "language": _or_junk(st.sampled_from([*LANGUAGES, "cobol", ""]), json_safe),
            "source": _or_junk(_data(json_safe), json_safe),
        },
        {
            "stdin": _or_junk(_data(json_safe), json_safe),
            "inputs": _or_junk(st.lists(_or_junk(_data(json_safe), json_safe), max_size=3), json_safe),
            "files": _files(json_safe),
            "limits": _limits(json_safe),
            "compile_limits": _limits(json_safe),
            "collect": _strings(json_safe),
        },
        json_safe,
    )


def task_like(json_safe: bool) -> st.SearchStrategy[Any]:
    """A task of either form, or (rarely) something that is not a task at all."""
    return _mostly(st.one_of(plain_task(json_safe), language_task(json_safe)), junk(json_safe), 8)


def _zip(members: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a name given twice is one of the cases
        for name, data in members:
            archive.writestr(name, data)
    return buffer.getvalue()


# zipfile cuts a name at its first NUL, and cannot write one that is left empty.
_member_names = (st.sampled_from([*_PATHS, "dir/", "./a", "a\x00b"]) | st.text(max_size=10)).filter(
    lambda name: bool(name.split("\x00")[0])
)
_zips = st.lists(st.tuples(_member_names, st.binary(max_size=8)), max_size=3).map(_zip)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _judge0_text(json_safe: bool) -> st.SearchStrategy[Any]:
    """A text field: mostly base64 (which is also plain text, so it goes deep whatever base64_encoded
    says), sometimes other text."""
    return _or_junk(_mostly(st.binary(min_size=1, max_size=16).map(_b64), text(20), 4), json_safe)


def judge0_submission(json_safe: bool) -> st.SearchStrategy[dict[str, Any]]:
    """A Judge0 submission body, each field plausible or junk."""
    numbers = _or_junk(_number(json_safe), json_safe)
    flags = _or_junk(st.booleans(), json_safe)
    return _object(
        {  # both always given (each may be junk): without them nothing else is looked at
            "source_code": _judge0_text(json_safe),
            "language_id": _mostly(st.sampled_from(list(JUDGE0_LANGUAGES)), st.sampled_from([4242, -1]) | junk(json_safe)),
        },
        {
            "stdin": _judge0_text(json_safe),
            "expected_output": _judge0_text(json_safe),
            "compiler_options": _or_junk(text(20) | st.sampled_from(["-O2", "'unclosed", "-D A=\ud800"]), json_safe),
            "command_line_arguments": _or_junk(text(20) | st.sampled_from(["a b", '"x', "\x00"]), json_safe),
            "cpu_time_limit": numbers, "cpu_extra_time": numbers, "wall_time_limit": numbers,
            "memory_limit": numbers, "stack_limit": numbers, "max_processes_and_or_threads": numbers,
            "max_file_size": numbers, "number_of_runs": numbers,
            "enable_per_process_and_thread_time_limit": flags,
            "enable_per_process_and_thread_memory_limit": flags,
            "redirect_stderr_to_stdout": flags, "enable_network": flags,
            "callback_url": _or_junk(st.none() | text(), json_safe),
            "additional_files": _or_junk(_zips.map(_b64) | st.binary(max_size=16).map(_b64) | text(), json_safe),
        },
        json_safe,
    )


def dumps(body: Any) -> bytes:
    """A body as a client may send it: JSON with ASCII escapes, so a lone surrogate travels as ``\\ud800``
    (and NaN as ``NaN``, which Python's JSON reader takes)."""
    return json.dumps(body).encode()
