"""Execution ids: what ``submit`` hands out, ``cancel`` and ``get_result`` take, and labels record."""

from __future__ import annotations

import uuid

__all__ = ["new_execution_id"]


def new_execution_id() -> str:
    """A fresh id: short enough to read, random enough never to collide."""
    return uuid.uuid4().hex
