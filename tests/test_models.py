"""The models' JSON form: collected files and output chunks are standard base64."""

from __future__ import annotations

import base64
import json

import pytest

from faber_ray import OutputChunk, TaskResult, TaskStatus

# Bytes whose standard and URL-safe base64 differ ('/' and '+' against '_' and '-').
AWKWARD = b"\xff\xfe\x00ok?>\xfb"


def test_collected_files_are_standard_base64_in_json() -> None:
    result = TaskResult(execution_id="e", status=TaskStatus.SUCCESS, files={"out.bin": AWKWARD})
    written = json.loads(result.model_dump_json())["files"]["out.bin"]
    assert written == base64.b64encode(AWKWARD).decode()
    assert base64.b64decode(written, validate=True) == AWKWARD
    assert TaskResult.model_validate_json(result.model_dump_json()).files == {"out.bin": AWKWARD}


def test_python_mode_keeps_bytes() -> None:
    result = TaskResult(execution_id="e", status=TaskStatus.SUCCESS, files={"a": AWKWARD})
    assert result.model_dump()["files"] == {"a": AWKWARD}


def test_url_safe_base64_is_read_too() -> None:
    body = {"execution_id": "e", "status": "SUCCESS", "files": {"a": base64.urlsafe_b64encode(AWKWARD).decode()}}
    assert TaskResult.model_validate_json(json.dumps(body)).files == {"a": AWKWARD}


def test_text_that_is_not_base64_is_refused() -> None:
    body = {"execution_id": "e", "status": "SUCCESS", "files": {"a": "not base64!"}}
    with pytest.raises(ValueError, match="base64"):
        TaskResult.model_validate_json(json.dumps(body))


def test_output_chunks_round_trip_as_base64() -> None:
    chunk = OutputChunk(stream="stderr", data=AWKWARD, step=2)
    assert json.loads(chunk.model_dump_json())["data"] == base64.b64encode(AWKWARD).decode()
    assert OutputChunk.model_validate_json(chunk.model_dump_json()) == chunk
