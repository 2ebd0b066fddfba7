"""Memory admission: does this task's memory fit this node now?

Each node offers its sandboxes a memory capacity; a task reserves its memory
limit when it is placed and releases it when it ends. Reserving the *limit*
(not the measured use) is what makes the answer safe: a sandbox can always
grow to its limit.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["CapacityLedger"]


class CapacityLedger:
    """Per-node memory capacity and the reservations held against it."""

    def __init__(self) -> None:
        self._capacity: dict[str, int] = {}
        self._reservations: dict[str, tuple[str, int]] = {}

    def set_capacity(self, node_id: str, capacity: int) -> None:
        self._capacity[node_id] = capacity

    def remove_node(self, node_id: str) -> None:
        self._capacity.pop(node_id, None)
        for execution_id in [eid for eid, (node, _) in self._reservations.items() if node == node_id]:
            del self._reservations[execution_id]

    def capacity(self, node_id: str) -> int:
        return self._capacity.get(node_id, 0)

    def reserved(self, node_id: str) -> int:
        return sum(memory for node, memory in self._reservations.values() if node == node_id)

    def largest_capacity(self) -> int:
        return max(self._capacity.values(), default=0)

    def fits_now(self, node_id: str, memory: int) -> bool:
        return node_id in self._capacity and self.reserved(node_id) + memory <= self._capacity[node_id]

    def reserve(self, execution_id: str, memory: int, nodes: Iterable[str]) -> str | None:
        """Reserve on the first of ``nodes`` (in the caller's order of preference) with room."""
        for node_id in nodes:
            if self.fits_now(node_id, memory):
                self._reservations[execution_id] = (node_id, memory)
                return node_id
        return None

    def reserve_many(self, requests: list[tuple[str, int, list[str]]]) -> list[str | None]:
        """``reserve`` for each ``(execution_id, memory, nodes)`` in order, stopping at the first that
        fits nowhere: no later task may overtake it (the rest answer None)."""
        placed: list[str | None] = []
        for execution_id, memory, nodes in requests:
            node = self.reserve(execution_id, memory, nodes)
            placed.append(node)
            if node is None:
                placed += [None] * (len(requests) - len(placed))
                break
        return placed

    def release(self, execution_id: str) -> str | None:
        """Drop a reservation; returns the node it was on, if any."""
        reservation = self._reservations.pop(execution_id, None)
        return reservation[0] if reservation else None

    def snapshot(self) -> dict[str, dict[str, int]]:
        return {node: {"capacity": cap, "reserved": self.reserved(node)} for node, cap in self._capacity.items()}
