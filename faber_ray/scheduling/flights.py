"""Single flight for identical tasks (dedupe): one run per content key at a time, the rest join it.

A task whose content (image ID, command, args, env, files, stdin, limits,
steps, collect, tests, checker) matches one that is queued or running does not
run: it *joins* that run, and gets a copy of its result when it ends. If the
run ends saying nothing about the program (``ERROR``, ``CANCELLED``), the first
of those who joined runs for itself after all, and the others join it.
"""

from __future__ import annotations

import hashlib
import json

from faber_ray.models import Task

__all__ = ["Flights", "content_key"]


def content_key(task: Task, image_id: str) -> str:
    """What makes two tasks the same program run the same way: every field that can change the result
    (command, args, env, files, stdin, limits, steps, collect, judging), with the image by ID, not by
    tag, so that a tag moved to a new build is a new key."""
    content = task.model_dump(mode="json", exclude={"dedupe", "image"})
    content["image_id"] = image_id
    return hashlib.sha256(json.dumps(content, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


class Flights:
    """Content key -> the execution that runs it now, and who joined it."""

    def __init__(self) -> None:
        self._leaders: dict[str, str] = {}
        self._followers: dict[str, list[str]] = {}
        self._joined: dict[str, str] = {}  # follower -> its leader
        self.joins = 0

    def leader_of(self, key: str) -> str | None:
        return self._leaders.get(key)

    def lead(self, key: str, execution_id: str, followers: list[str] | None = None) -> None:
        self._leaders[key] = execution_id
        self._followers[execution_id] = list(followers or [])
        for follower in self._followers[execution_id]:
            self._joined[follower] = execution_id

    def join(self, key: str, execution_id: str) -> str:
        """``execution_id`` shares the run for ``key``; returns the leader's id."""
        leader = self._leaders[key]
        self._followers[leader].append(execution_id)
        self._joined[execution_id] = leader
        self.joins += 1
        return leader

    def land(self, key: str, execution_id: str) -> list[str]:
        """``execution_id`` ended: if it led the run for ``key``, the run is over; returns who joined it.
        If it had joined one (a follower cancelled), it leaves it."""
        leader = self._joined.pop(execution_id, None)
        if leader is not None:
            followers = self._followers.get(leader)
            if followers is not None and execution_id in followers:
                followers.remove(execution_id)
            return []
        if self._leaders.get(key) != execution_id:
            return []
        del self._leaders[key]
        followers = self._followers.pop(execution_id, [])
        for follower in followers:
            self._joined.pop(follower, None)
        return followers
