"""Admission: does this task fit this node now, in memory and in host pids?

Each node offers its sandboxes a capacity: bytes of memory, and kernel tasks
(pids, which threads use too) out of what the host's ``pid_max`` leaves. A task
reserves its *limits* when it is placed and releases them when it ends:
reserving the limit (not the measured use) is what makes the answer safe, since
a sandbox can always grow to its limits. Without the pid half, ten tasks at the
4,096-process ceiling would need more pids than a host with the default
``pid_max`` of 32,768 has.

A task's pids need is clipped to the node's whole budget: a gVisor sandbox at the
ceiling wants more host tasks than a node has, and is bounded by the budget
instead (``sandbox/spec.py`` bounds its container the same way), so it runs
alone on its node rather than never.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

__all__ = ["CapacityLedger", "Need"]


class Need(NamedTuple):
    """What one sandbox may take of a node at once (or what a node offers them all)."""

    memory: int
    pids: int = 0


class CapacityLedger:
    """Per-node capacity and the reservations held against it (totals kept as they change)."""

    def __init__(self) -> None:
        self._capacity: dict[str, Need] = {}
        self._reservations: dict[str, tuple[str, Need]] = {}
        self._reserved: dict[str, Need] = {}

    def set_capacity(self, node_id: str, capacity: Need) -> None:
        self._capacity[node_id] = Need(*capacity)
        self._reserved.setdefault(node_id, Need(0, 0))

    def remove_node(self, node_id: str) -> None:
        self._capacity.pop(node_id, None)
        self._reserved.pop(node_id, None)
        for execution_id in [eid for eid, (node, _) in self._reservations.items() if node == node_id]:
            del self._reservations[execution_id]

    def capacity(self, node_id: str) -> Need:
        return self._capacity.get(node_id, Need(0, 0))

    def reserved(self, node_id: str) -> Need:
        return self._reserved.get(node_id, Need(0, 0))

    def largest_memory(self) -> int:
        """The most memory any one node offers (a task needing more can never run)."""
        return max((capacity.memory for capacity in self._capacity.values()), default=0)

    def _effective(self, node_id: str, need: Need) -> Need:
        return Need(need.memory, min(need.pids, self._capacity[node_id].pids))

    def fits_now(self, node_id: str, need: Need) -> bool:
        if node_id not in self._capacity:
            return False
        capacity, reserved, wanted = self._capacity[node_id], self._reserved[node_id], self._effective(node_id, need)
        return reserved.memory + wanted.memory <= capacity.memory and reserved.pids + wanted.pids <= capacity.pids

    def reserve(self, execution_id: str, need: Need, nodes: Iterable[str]) -> str | None:
        """Reserve on the first of ``nodes`` (in the caller's order of preference) with room."""
        for node_id in nodes:
            if self.fits_now(node_id, need):
                wanted = self._effective(node_id, need)
                self._reservations[execution_id] = (node_id, wanted)
                total = self._reserved[node_id]
                self._reserved[node_id] = Need(total.memory + wanted.memory, total.pids + wanted.pids)
                return node_id
        return None

    def reserve_many(self, requests: list[tuple[str, Need, list[str]]]) -> list[str | None]:
        """``reserve`` for each ``(execution_id, need, nodes)`` in order, stopping at the first that
        fits nowhere: no later task may overtake it (the rest answer None)."""
        placed: list[str | None] = []
        for execution_id, need, nodes in requests:
            node = self.reserve(execution_id, need, nodes)
            placed.append(node)
            if node is None:
                placed += [None] * (len(requests) - len(placed))
                break
        return placed

    def release(self, execution_id: str) -> str | None:
        """Drop a reservation; returns the node it was on, if any."""
        reservation = self._reservations.pop(execution_id, None)
        if reservation is None:
            return None
        node_id, held = reservation
        total = self._reserved.get(node_id)
        if total is not None:
            self._reserved[node_id] = Need(total.memory - held.memory, total.pids - held.pids)
        return node_id

    def snapshot(self) -> dict[str, dict[str, int]]:
        return {
            node: {
                "capacity": capacity.memory, "reserved": self._reserved[node].memory,
                "pids_capacity": capacity.pids, "pids_reserved": self._reserved[node].pids,
            }
            for node, capacity in self._capacity.items()
        }
