"""Judge0 CE 1.13.1's language ids for the languages faber-ray has.

The ids are Judge0 CE 1.13.1's, so a client that hard-codes ``71`` for Python
keeps working; each name says what really runs here, in Judge0's style
("C++ (GCC 12.2.0)"). The versions are the Debian bookworm packages the images
are built from (the README's image table): bookworm pins Python, GCC, Go, Rust
and Bash at one upstream release, so those give it in full; OpenJDK and
Node.js follow upstream patch releases through security updates, so those give
the major only, as :data:`faber_ray.languages.LANGUAGES` does.

Only what can run is listed: ``GET /languages`` gives the languages whose
sandbox image some node has (``runnable``, the image names the executor found);
``GET /languages/all`` gives every id, a language without its image marked
``is_archived``, as Judge0 marks the languages it no longer runs. Nothing is
built on demand: an image is built by ``faber-ray images ensure``.

Judge0 1.13.1 has three C++ ids (52, 53, 54: GCC 7.4.0, 8.3.0, 9.2.0). The
issue asks for 54, but the official SDK's alias table maps ``CPP`` and
``CPP_GCC`` to 52 under 1.13.1, and the SDK refuses a language that
``GET /languages`` does not list. So 52 is listed too, under the same name, as
an alias of 54: both run faber-ray's one C++ toolchain.
"""

from __future__ import annotations

import shlex
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from faber_ray.errors import TaskValidationError
from faber_ray.languages import LANGUAGES, Language
from faber_ray.models import MAX_INTEGER

__all__ = [
    "ALIASES", "JUDGE0_LANGUAGES", "Judge0Language", "all_languages", "language", "languages", "resolve_language",
]


@dataclass(frozen=True)
class Judge0Language:
    """One Judge0 language id: its name as Judge0 shows it, and the faber-ray language behind it."""

    id: int
    name: str
    language: Language


def _entry(language_id: int, key: str, name: str) -> Judge0Language:
    return Judge0Language(language_id, name, LANGUAGES[key])


_CANONICAL = (
    _entry(46, "bash", "Bash (5.2.15)"),
    _entry(50, "c", "C (GCC 12.2.0)"),
    _entry(54, "cpp", "C++ (GCC 12.2.0)"),
    _entry(60, "go", "Go (1.19.8)"),
    _entry(62, "java", "Java (OpenJDK 17)"),
    _entry(63, "javascript", "JavaScript (Node.js 18)"),
    _entry(71, "python", "Python (3.11.2)"),
    _entry(73, "rust", "Rust (1.63.0)"),
)

#: Extra ids accepted and listed for a canonical one: the SDK's 1.13.1 alias for C++ is 52.
ALIASES: Mapping[int, int] = MappingProxyType({52: 54})

_BY_ID = {entry.id: entry for entry in _CANONICAL}
_BY_ID.update({alias: Judge0Language(alias, _BY_ID[target].name, _BY_ID[target].language)
               for alias, target in ALIASES.items()})

#: Every language id served, ascending, as ``GET /languages`` lists them.
JUDGE0_LANGUAGES: Mapping[int, Judge0Language] = MappingProxyType(dict(sorted(_BY_ID.items())))


def _archived(entry: Judge0Language, runnable: Collection[str] | None) -> bool:
    """Whether ``entry`` cannot run now: no node has its image (``runnable=None``: not known, so it can)."""
    return runnable is not None and entry.language.image not in runnable


def languages(runnable: Collection[str] | None = None) -> list[dict[str, Any]]:
    """``GET /languages``: ``[{"id", "name"}, ...]`` by id, as Judge0 lists them: those whose image is in
    ``runnable`` (every one when ``runnable`` is None)."""
    return [
        {"id": entry.id, "name": entry.name}
        for entry in JUDGE0_LANGUAGES.values() if not _archived(entry, runnable)
    ]


def all_languages(runnable: Collection[str] | None = None) -> list[dict[str, Any]]:
    """``GET /languages/all``: every id by name, as Judge0 orders them, ``is_archived`` if its image is not in
    ``runnable``."""
    entries = sorted(JUDGE0_LANGUAGES.values(), key=lambda entry: (entry.name, entry.id))
    return [{"id": entry.id, "name": entry.name, "is_archived": _archived(entry, runnable)} for entry in entries]


def resolve_language(language_id: object, index: int | None = None) -> Judge0Language:
    """The language behind ``language_id``; refuses a wrong type or an unknown id (field ``language_id``)."""
    if language_id is None:
        raise TaskValidationError("language_id can't be blank", task_index=index, field="language_id")
    if not isinstance(language_id, int) or isinstance(language_id, bool):
        raise TaskValidationError(
            f"language_id must be an integer, not {type(language_id).__name__}",
            task_index=index, field="language_id",
        )
    entry = JUDGE0_LANGUAGES.get(language_id)
    if entry is None:
        known = ", ".join(str(known_id) for known_id in JUDGE0_LANGUAGES)
        shown = language_id if -MAX_INTEGER <= language_id <= MAX_INTEGER else "too large to show"  # str() fails
        raise TaskValidationError(
            f"language with id {shown} doesn't exist; faber-ray serves {known} (GET /languages)",
            task_index=index, field="language_id",
        )
    return entry


def language(language_id: int, runnable: Collection[str] | None = None) -> dict[str, Any]:
    """``GET /languages/{id}``: the id, name and commands (as one shell line each), as Judge0 shows them."""
    entry = resolve_language(language_id)
    lang = entry.language
    return {
        "id": entry.id,
        "name": entry.name,
        "is_archived": _archived(entry, runnable),
        "source_file": lang.source_file,
        "compile_cmd": shlex.join(lang.compile) if lang.compile is not None else None,
        "run_cmd": shlex.join(lang.run),
    }
