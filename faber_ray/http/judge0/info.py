"""Judge0 CE 1.13.1's health and information routes, in its shapes: plain Python, no Ray, no FastAPI.

- ``GET /workers`` (Judge0's health check): one queue, named by Judge0's
  version as Judge0 names it; ``size`` is the executor's queued tasks,
  ``available`` its sandbox slots (``max_concurrent_tasks``), ``working`` the
  running tasks, ``idle`` the slots left, ``paused`` 0, ``failed`` the tasks
  that ended ``ERROR``.
- ``GET /system_info``: Judge0 shows ``lscpu`` and ``free -h`` of its web
  host; here, the same keys for the replica's host.
- ``GET /statistics``: the Judge0 submissions made through this replica since
  it started (Judge0 counts its database): in all, today and in each of the
  last 30 days, by language and by status (counted once judged). The
  "database" is the replica's book of submissions (its bytes now).
- ``GET /version``: the version as plain text.
"""

from __future__ import annotations

import os
import platform
from collections import Counter
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from faber_ray.http.judge0.languages import JUDGE0_LANGUAGES
from faber_ray.http.judge0.results import STATUSES
from faber_ray.models import ExecutionStatistics

__all__ = ["Statistics", "system_info", "workers"]

#: Judge0 names its one queue by its version.
QUEUE = "1.13.1"
#: The days ``/statistics`` reports one by one, before today.
DAYS = 30


def workers(stats: ExecutionStatistics, slots: int) -> list[dict[str, Any]]:
    """``GET /workers``: ``[{"queue", "size", "available", "idle", "working", "paused", "failed"}]``."""
    return [{
        "queue": QUEUE, "size": stats.queued, "available": slots, "idle": max(slots - stats.running, 0),
        "working": stats.running, "paused": 0, "failed": stats.by_status.get("ERROR", 0),
    }]


def _human(kib: int) -> str:
    """KiB as ``free -h`` writes them: ``7.7G``, ``512M``."""
    size, unit = float(kib), "K"
    for bigger in ("M", "G", "T"):
        if size < 1024:
            break
        size, unit = size / 1024, bigger
    return f"{size:.1f}{unit}" if size < 10 else f"{size:.0f}{unit}"


def _meminfo(path: Path = Path("/proc/meminfo")) -> dict[str, int]:
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return {}
    found = {}
    for line in lines:
        name, _, rest = line.partition(":")
        if rest.split() and rest.split()[0].isdigit():
            found[name] = int(rest.split()[0])
    return found


def _model_name(path: Path = Path("/proc/cpuinfo")) -> str:
    try:
        for line in path.read_text().splitlines():
            name, _, value = line.partition(":")
            if name.strip() == "model name":
                return value.strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def system_info() -> dict[str, str]:
    """``GET /system_info``: ``lscpu`` and ``free -h`` keys for the replica's host."""
    memory = _meminfo()
    return {
        "Architecture": platform.machine(),
        "CPU(s)": str(os.cpu_count() or 0),
        "Model name": _model_name(),
        "Mem": _human(memory.get("MemTotal", 0)),
        "Swap": _human(memory.get("SwapTotal", 0)),
    }


def _pretty(size: int) -> str:
    """Bytes as PostgreSQL's ``pg_size_pretty`` writes them."""
    if size < 10 * 1024:
        return f"{size} bytes"
    for unit in ("kB", "MB", "GB", "TB"):
        size = (size + 512) // 1024
        if size < 10 * 1024 or unit == "TB":
            return f"{size} {unit}"
    raise AssertionError("unreachable")


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Statistics:
    """Counts of the Judge0 submissions made through this replica: a few counters, bounded (31 days kept)."""

    def __init__(self) -> None:
        self.total = 0
        self._days: Counter[date] = Counter()
        self._languages: Counter[int] = Counter()
        self._statuses: Counter[int] = Counter()

    def created(self, language_id: int, when: datetime) -> None:
        self.total += 1
        self._languages[language_id] += 1
        self._days[when.astimezone(timezone.utc).date()] += 1
        oldest = when.astimezone(timezone.utc).date() - timedelta(days=DAYS)
        for day in [day for day in self._days if day < oldest]:
            del self._days[day]

    def judged(self, status_id: int) -> None:
        self._statuses[status_id] += 1

    def snapshot(self, book_bytes: int, now: datetime | None = None) -> dict[str, Any]:
        """``GET /statistics``, counted now (``cached_until`` is ``created_at``: nothing is cached)."""
        now = now or datetime.now(timezone.utc)
        today = now.astimezone(timezone.utc).date()
        past = [today - timedelta(days=back) for back in range(1, DAYS + 1)]
        return {
            "created_at": _timestamp(now),
            "cached_until": _timestamp(now),
            "submissions": {
                "total": self.total,
                "today": self._days.get(today, 0),
                "last_30_days": {day.isoformat(): self._days.get(day, 0) for day in past},
            },
            "languages": [
                {"language": {"id": language_id, "name": JUDGE0_LANGUAGES[language_id].name}, "count": count}
                for language_id, count in self._languages.most_common()
            ],
            "statuses": [
                {"status": {"id": status_id, "name": STATUSES[status_id]}, "count": count}
                for status_id, count in self._statuses.most_common()
            ],
            "database": {"size_pretty": _pretty(book_bytes), "size_in_bytes": book_bytes},
        }
