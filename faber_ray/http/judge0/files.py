"""Judge0's ``additional_files``: a base64 zip, unpacked into the task's files before anything runs.

Judge0 unzips the archive inside the sandbox; faber-ray reads it on the way
in instead, so every member becomes an ordinary task file and passes the same
checks as any other (:func:`faber_ray.validation.check_path`, ``max_files``,
``max_files_bytes``). Refused, with the member named: an archive that is not
a zip, or is encrypted or corrupt; a member with an absolute or ``..`` path; a
symbolic link or any other non-regular file; a name given twice; more files or
more bytes than the config allows. A member is read at most one byte past
what is still allowed, so a zip bomb costs no more than the cap. Directory
entries are skipped (directories come from the files' paths); permission bits
are not kept.

Judge0 always sends ``additional_files`` as base64, whatever ``base64_encoded`` says.
"""

from __future__ import annotations

import base64
import binascii
import io
import stat
import zipfile
import zlib
from typing import NoReturn

from faber_ray.config import ExecutorConfig
from faber_ray.errors import ExecutorError, TaskValidationError
from faber_ray.validation import check_path

__all__ = ["FIELD", "unpack_additional_files"]

FIELD = "additional_files"
#: What reading a corrupt, encrypted or unsupported member raises.
_UNREADABLE = (zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError, ValueError, EOFError, OSError)


def _refuse(index: int | None, reason: str) -> NoReturn:
    raise TaskValidationError(reason, task_index=index, field=FIELD)


def _member_path(info: zipfile.ZipInfo, index: int | None) -> str:
    name = info.filename
    path = name[2:] if name.startswith("./") else name
    try:
        check_path(path, index or 0, FIELD)
    except ExecutorError as error:
        _refuse(index, f"member {name!r}: {error.reason}")
    kind = stat.S_IFMT(info.external_attr >> 16)  # 0 when the zip says nothing of the file's type
    if kind == stat.S_IFLNK:
        _refuse(index, f"member {name!r} is a symbolic link; only regular files are unpacked")
    if kind not in (0, stat.S_IFREG):
        _refuse(index, f"member {name!r} is not a regular file")
    if info.flag_bits & 0x1:
        _refuse(index, f"member {name!r} is encrypted")
    return path


def unpack_additional_files(data: object, config: ExecutorConfig, index: int | None = None) -> dict[str, bytes]:
    """The regular files of the base64 zip ``data``, by relative path; refuses as the module says."""
    if not isinstance(data, str):
        _refuse(index, f"{FIELD} must be a base64 string of a zip archive, not {type(data).__name__}")
    try:
        raw = base64.b64decode(data.replace("\n", "").replace("\r", ""), validate=True)
    except (binascii.Error, ValueError):
        _refuse(index, f"{FIELD} is not valid base64 (Judge0 always sends it as base64)")
    try:
        archive = zipfile.ZipFile(io.BytesIO(raw))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError) as error:
        _refuse(index, f"{FIELD} is not a readable zip archive: {error}")
    files: dict[str, bytes] = {}
    left = config.max_files_bytes
    with archive:
        members = [info for info in archive.infolist() if not info.is_dir()]
        if len(members) + 1 > config.max_files:  # the source file is one more
            _refuse(index, f"{len(members)} files, over the cap of {config.max_files - 1} (max_files, less the source)")
        for info in members:
            path = _member_path(info, index)
            if path in files:
                _refuse(index, f"member {info.filename!r} appears twice")
            if info.file_size > left:
                _refuse(index, f"the files unpack to more than {config.max_files_bytes} bytes (max_files_bytes)")
            try:
                with archive.open(info) as member:
                    content = member.read(left + 1)
            except _UNREADABLE as error:
                _refuse(index, f"member {info.filename!r} cannot be read: {error}")
            left -= len(content) + len(path.encode())
            if left < 0:
                _refuse(index, f"the files unpack to more than {config.max_files_bytes} bytes (max_files_bytes)")
            files[path] = content
    return files
