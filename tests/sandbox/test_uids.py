"""The node's uid leases, without an engine: exclusive across processes, released by a dead holder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from faber_ray.errors import SandboxError
from faber_ray.sandbox.uids import HostUids, parse_user


def test_two_allocators_on_one_directory_never_lease_the_same_uid(tmp_path: Path) -> None:
    a, b = HostUids(tmp_path / "uids", 20001, 20001, 4), HostUids(tmp_path / "uids", 20001, 20001, 4)
    leases = [a.lease(), b.lease(), a.lease(), b.lease()]
    assert sorted(lease.uid for lease in leases) == [20001, 20002, 20003, 20004]
    assert {lease.gid for lease in leases} == {20001}
    with pytest.raises(SandboxError, match=r"every sandbox uid of this node \(20001\.\.20004\).*sandbox_uids"):
        a.lease()
    leases[2].release()
    leases[2].release()  # idempotent
    assert b.lease().uid == leases[2].uid


def test_leases_go_round_the_range(tmp_path: Path) -> None:
    """A uid just given back is the last one taken again (its last processes have the most time to go)."""
    uids = HostUids(tmp_path / "uids", 30001, 30001, 3)
    first = uids.lease()
    first.release()
    assert [uids.lease().uid for _ in range(2)] == [30002, 30003]
    assert uids.lease().uid == 30001


HOLDER = """
import sys, time
from pathlib import Path
from faber_ray.sandbox.uids import HostUids
uids = HostUids(Path(sys.argv[1]), 40001, 40001, 3)
held = [uids.lease(), uids.lease()]
print(" ".join(str(lease.uid) for lease in held), flush=True)
time.sleep(600)
"""


def test_another_process_holds_its_uids_until_it_dies(tmp_path: Path) -> None:
    directory = tmp_path / "uids"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(HOLDER), str(directory)],
                              stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert holder.stdout is not None
        held = {int(uid) for uid in holder.stdout.readline().split()}
        assert held == {40001, 40002}
        uids = HostUids(directory, 40001, 40001, 3)
        mine = uids.lease()
        assert mine.uid == 40003
        with pytest.raises(SandboxError):
            uids.lease()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert {uids.lease().uid, uids.lease().uid} == {40001, 40002}  # a killed holder's locks went with it


def test_a_planted_link_is_never_followed(tmp_path: Path) -> None:
    directory = tmp_path / "uids"
    uids = HostUids(directory, 50001, 50001, 1)
    target = tmp_path / "target"
    (directory / "50001").symlink_to(target)
    with pytest.raises(SandboxError, match="symbolic link"):
        uids.lease()
    assert not target.exists()


def test_the_directory_must_be_private(tmp_path: Path) -> None:
    directory = tmp_path / "uids"
    directory.mkdir(mode=0o777)
    directory.chmod(0o777)
    with pytest.raises(SandboxError, match="refusing to use"):
        HostUids(directory, 50001, 50001, 1)


def test_parse_user() -> None:
    assert parse_user("10001:10002") == (10001, 10002)
