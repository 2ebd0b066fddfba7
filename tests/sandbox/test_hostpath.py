"""Host directories faber-ray trusts, and the ones it refuses (it often runs as root)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from faber_ray.errors import SandboxError
from faber_ray.hostpath import check_trusted, locked, private_dir

OTHER_UID = 12345


def test_a_missing_directory_is_made_private(tmp_path: Path) -> None:
    made = private_dir(tmp_path / "cache" / "agent")
    assert made.is_dir() and (made.stat().st_mode & 0o777) == 0o700
    check_trusted(made)


def test_a_directory_another_user_owns_is_refused(tmp_path: Path) -> None:
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o700)
    os.chown(theirs, OTHER_UID, OTHER_UID)
    with pytest.raises(SandboxError, match=f"{theirs}.*uid {OTHER_UID}"):
        private_dir(theirs)
    with pytest.raises(SandboxError, match=str(theirs)):
        private_dir(theirs / "inside")  # nothing is made below it either
    assert not (theirs / "inside").exists()


def test_a_planted_symlink_is_refused_and_never_followed(tmp_path: Path) -> None:
    """A local user's head start: the path exists already, as a link to somewhere root may write."""
    target = tmp_path / "root-only"
    target.mkdir(mode=0o700)
    planted = tmp_path / "faber-ray"
    planted.symlink_to(target)
    os.lchown(planted, OTHER_UID, OTHER_UID)
    with pytest.raises(SandboxError, match=str(planted)):
        private_dir(planted)
    with pytest.raises(SandboxError):
        private_dir(planted / "agent")
    assert list(target.iterdir()) == []


def test_a_world_writable_parent_without_the_sticky_bit_is_refused(tmp_path: Path) -> None:
    open_dir = tmp_path / "open"
    open_dir.mkdir()
    open_dir.chmod(0o777)
    with pytest.raises(SandboxError, match="not sticky"):
        private_dir(open_dir / "cache")
    assert not (open_dir / "cache").exists()
    sticky = tmp_path / "sticky"
    sticky.mkdir()
    sticky.chmod(0o1777)  # like /tmp: others cannot swap our entry, so it may hold one
    assert private_dir(sticky / "cache").is_dir()


def test_our_directory_must_not_be_writable_by_others(tmp_path: Path) -> None:
    loose = tmp_path / "loose"
    loose.mkdir()
    loose.chmod(0o777)
    with pytest.raises(SandboxError, match="mode 0700"):
        check_trusted(loose)


def test_the_lock_file_is_never_a_link(tmp_path: Path) -> None:
    directory = private_dir(tmp_path / "locks")
    (directory / ".lock").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(OSError):
        with locked(directory):
            pass
    assert not (tmp_path / "elsewhere").exists()
