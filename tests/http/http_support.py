"""Helpers for the HTTP tests: the test app's settings and a client factory."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import ray

EXECUTOR_NAME = "http-tests"
QUEUE_SIZE = 64
#: One user's share of the queue (max_queued_per_user): below QUEUE_SIZE, so the two refusals differ.
QUEUED_PER_USER = 48
MAX_CONCURRENT = 4
MAX_BODY_BYTES = 8 * 1024**2
#: Upper bound for anything asynchronous; polls end as soon as the condition holds.
DEADLINE = 120.0


@dataclass(frozen=True)
class Api:
    url: str
    token: str
    other_token: str
    executor: Any
    admin_token: str = "carol-admin-token-0123456789"
    priority_token: str = "dave-priority-token-0123456789"  #: may ask for priority up to 2

    def native(self, token: str | None = None, timeout: float = DEADLINE) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, timeout=timeout,
            headers={"Authorization": f"Bearer {token or self.token}"},
        )

    def judge0(self, token: str | None = None, timeout: float = DEADLINE) -> httpx.Client:
        return httpx.Client(
            base_url=f"{self.url}/judge0", timeout=timeout, headers={"X-Auth-Token": token or self.token}
        )


def pending(api: Api) -> dict[str, list[str]]:
    view: dict[str, list[str]] = ray.get(api.executor.pending.remote())
    return view


